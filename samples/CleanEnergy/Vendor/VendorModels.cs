using System.Text.Json;

namespace CleanEnergy.Vendor;

/// <summary>One entry of <c>GET /api/v1/devices</c>.</summary>
internal sealed record VendorDeviceSummary(string VendorId, string Name, string Kind, string Location, bool Online, bool On, double PowerW);

/// <summary>A typed value of a device: <c>{"kind": "number"|"onoff"|"text"|"choice", "value": …, "unit": "W"}</c>.</summary>
internal sealed record VendorReading(string Kind, JsonElement Value, string? Unit);

/// <summary><c>GET /api/v1/devices/{vendorId}</c> (and the answer of a power switch): the device's state at <see cref="ReportedAt"/>.</summary>
internal sealed record VendorDeviceStatus(
    string VendorId,
    string Name,
    string Kind,
    string Location,
    bool On,
    double PowerW,
    IReadOnlyDictionary<string, VendorReading>? Readings,
    DateTimeOffset ReportedAt);

/// <summary><c>GET /api/v1/grid/intensity</c>: gCO2/kWh at <see cref="At"/>.</summary>
internal sealed record VendorGridReading(double Intensity, string? Unit, DateTimeOffset At);

/// <summary>The vendor refused a request (a 4xx answer): not retried, the request itself is wrong.</summary>
internal sealed class VendorRejectedException(string message, int statusCode) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>Which vendor failures are worth another try: a 5xx or 429 answer, no answer at all, or no answer in time.</summary>
internal static class VendorErrors
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        TimeoutException => true,
        HttpRequestException { StatusCode: null } => true,
        HttpRequestException { StatusCode: { } status } => (int)status >= 500 || (int)status == 429,
        _ => false,
    };
}
