using System.Text.Json;

namespace Celeriac.Messaging;

/// <summary>Turns the <c>args</c> object given to a send into positional and keyword arguments.</summary>
internal static class TaskArguments
{
    /// <summary>
    /// <see langword="null"/>: none. A JSON object (an anonymous type, a dictionary, a record): keyword arguments.
    /// A JSON array (an <c>object[]</c>, a list): positional arguments. Anything else: one positional argument.
    /// </summary>
    public static (JsonElement? Args, JsonElement? Kwargs) Split(object? args, JsonSerializerOptions? options = null)
    {
        if (args is null) return (null, null);
        var element = args is JsonElement e ? e.Clone() : JsonSerializer.SerializeToElement(args, args.GetType(), options ?? TaskJson.Options);
        return element.ValueKind switch
        {
            JsonValueKind.Object => (null, element),
            JsonValueKind.Array => (element, null),
            JsonValueKind.Null or JsonValueKind.Undefined => (null, null),
            _ => (JsonSerializer.SerializeToElement(new[] { element }, TaskJson.Options), null),
        };
    }

    /// <summary>Positional arguments with <paramref name="first"/> put in front (how a chain passes a result on).</summary>
    public static JsonElement Prepend(JsonElement first, JsonElement? args)
    {
        var list = new List<JsonElement> { first };
        if (args is { ValueKind: JsonValueKind.Array } a) list.AddRange(a.EnumerateArray());
        return JsonSerializer.SerializeToElement(list, TaskJson.Options);
    }
}

/// <summary>The JSON settings for arguments and results: web defaults (camelCase, case-insensitive reads).</summary>
internal static class TaskJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
