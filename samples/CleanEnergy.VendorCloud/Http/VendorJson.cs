using System.Text.Json;
using System.Text.Json.Serialization;

namespace CleanEnergy.VendorCloud.Http;

/// <summary>
/// The API's JSON: System.Text.Json web defaults (camelCase, case-insensitive reading), enums as camelCase strings
/// (numbers refused), nulls left out. Bodies are read here rather than by parameter binding so that a bad body gets a
/// 400 problem saying what was expected.
/// </summary>
internal static class VendorJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return options;
    }

    /// <summary>Reads the body as <typeparamref name="T"/>, or returns a 400 problem that quotes <paramref name="example"/>.</summary>
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, string example)
    {
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, Options, request.HttpContext.RequestAborted);
            return value is null ? (default, BadBody("the body is null", example)) : (value, null);
        }
        catch (JsonException e)
        {
            return (default, BadBody(e.Message, example));
        }
    }

    public static IResult BadBody(string why, string example) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request body", detail: $"Expected JSON like {example}: {why}");

    public static IResult NoDevice(string vendorId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Device not found", detail: $"No device has vendor id '{vendorId}'.");
}
