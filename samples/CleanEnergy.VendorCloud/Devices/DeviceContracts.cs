namespace CleanEnergy.VendorCloud.Devices;

/// <summary>One entry of <c>GET /api/v1/devices</c>: the cloud's view, including whether the device is reachable.</summary>
internal sealed record DeviceSummary(string VendorId, string Name, DeviceKind Kind, string Location, bool Online, bool On, double PowerW);

/// <summary>
/// <c>GET /api/v1/devices/{vendorId}</c>: <c>{"vendorId":"vx-1001",…,"on":true,"powerW":152.3,"readings":{"powerW":{"kind":"number","value":152.3,"unit":"W"},…},"reportedAt":"…"}</c>.
/// <paramref name="Online"/> is only in <c>GET /admin/devices</c> (an offline device answers no status on the API).
/// </summary>
internal sealed record DeviceStatus(
    string VendorId,
    string Name,
    DeviceKind Kind,
    string Location,
    bool On,
    double PowerW,
    IReadOnlyDictionary<string, Reading> Readings,
    DateTimeOffset ReportedAt,
    DateTimeOffset? LastSwitchedAt,
    bool? Online = null);

/// <summary>
/// One typed value: <paramref name="Value"/> is a number, a boolean (<c>onoff</c>) or a string (<c>text</c>,
/// <c>choice</c>). <paramref name="Choices"/> lists a choice's allowed values; <paramref name="Settable"/> is true for
/// values <c>PUT /api/v1/devices/{vendorId}/settings</c> can change (absent otherwise).
/// </summary>
internal sealed record Reading(ReadingKind Kind, object Value, string? Unit = null, IReadOnlyList<string>? Choices = null, bool? Settable = null, double? Min = null, double? Max = null);

/// <summary>The body of <c>POST /api/v1/devices/{vendorId}/power</c>: <c>{"on": true}</c>.</summary>
internal sealed record PowerRequest(bool? On);
