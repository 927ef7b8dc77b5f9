using CleanEnergy.Contracts;

namespace CleanEnergy.Data;

/// <summary>A device the controller switches, as known to the vendor's cloud under <see cref="VendorId"/>.</summary>
internal sealed class Device
{
    /// <summary>The column sizes of <see cref="Name"/>, <see cref="Location"/>, <see cref="VendorId"/> and <see cref="Kind"/> (PostgreSQL enforces them; SQLite does not).</summary>
    public const int NameMaxLength = 100, LocationMaxLength = 100, VendorIdMaxLength = 100, KindMaxLength = 50;

    public int Id { get; set; }
    public required string Name { get; set; }
    public string Location { get; set; } = "";
    /// <summary>The device's id in the vendor API (unique).</summary>
    public required string VendorId { get; set; }
    /// <summary>What it is (plug, thermostat, charger, …), as the vendor reports it.</summary>
    public string Kind { get; set; } = "";
    /// <summary>False from the moment a call still failed after its last retry until the device answers again.</summary>
    public bool Reachable { get; set; } = true;
    /// <summary>When <see cref="Reachable"/> last changed (the start of the current outage when unreachable).</summary>
    public DateTime ReachableSince { get; set; }
    /// <summary>When a vendor call for this device last succeeded.</summary>
    public DateTime? LastSeenAt { get; set; }
}

/// <summary>The type of an observation's value, stored lower-case (<c>number</c>, <c>onoff</c>, <c>text</c>, <c>choice</c>).</summary>
internal enum ObservationKind
{
    Number,
    OnOff,
    Text,
    Choice,
}

/// <summary>
/// One reading of a time series: a device's <c>power</c>, <c>on</c>, <c>display</c>, <c>colour</c>, … or the grid's
/// <c>grid.intensity</c>. Unique on (<see cref="Source"/>, <see cref="Name"/>, <see cref="Time"/>), where the time is
/// the vendor's own reading time, so storing the same reading twice (a redelivered task) is a no-op.
/// </summary>
internal sealed class Observation
{
    /// <summary><see cref="Source"/> of the grid signal.</summary>
    public const string GridSource = "grid";

    public long Id { get; set; }
    /// <summary>The device; <see langword="null"/> for the grid signal.</summary>
    public int? DeviceId { get; set; }
    /// <summary><c>device:{id}</c> or <c>grid</c>: never null, so the unique key also holds for the grid (SQL NULLs are all distinct).</summary>
    public required string Source { get; set; }
    public required string Name { get; set; }
    public ObservationKind Kind { get; set; }
    public double? NumberValue { get; set; }
    public bool? BoolValue { get; set; }
    public string? TextValue { get; set; }
    /// <summary>When the value was read (UTC), as the vendor reports it.</summary>
    public DateTime Time { get; set; }

    public static string SourceOf(int deviceId) => $"device:{deviceId}";
}

/// <summary>One call made to the vendor API, with how it went.</summary>
internal sealed class Interaction
{
    public long Id { get; set; }
    public int? DeviceId { get; set; }
    /// <summary><c>devices.list</c>, <c>devices.get</c>, <c>devices.power</c> or <c>grid.intensity</c>.</summary>
    public required string Operation { get; set; }
    /// <summary>The HTTP status code, when a response came.</summary>
    public int? StatusCode { get; set; }
    /// <summary>What went wrong, when something did.</summary>
    public string? Error { get; set; }
    /// <summary><c>ok</c>, <c>http-error</c>, <c>timeout</c> or <c>network-error</c>.</summary>
    public required string Outcome { get; set; }
    public double DurationMs { get; set; }
    public DateTime At { get; set; }
}

/// <summary>
/// An hour of one series after its raw observations aged out (see <c>observations.rollup</c>). Numbers and on/off
/// values (as 0/1: the average is the share of the hour it was on) get min, max and average; text and choice series
/// only a count.
/// </summary>
internal sealed class HourlyAggregate
{
    public long Id { get; set; }
    public int? DeviceId { get; set; }
    public required string Source { get; set; }
    public required string Name { get; set; }
    /// <summary>Start of the hour (UTC).</summary>
    public DateTime Hour { get; set; }
    public double? Min { get; set; }
    public double? Max { get; set; }
    public double? Avg { get; set; }
    public int Count { get; set; }
}

/// <summary>A user account. This app is the master of users; replicated fields are user name, display name and email.</summary>
internal sealed class User
{
    /// <summary>The column sizes of <see cref="UserName"/>, <see cref="DisplayName"/> and <see cref="Email"/> (PostgreSQL enforces them; SQLite does not).</summary>
    public const int UserNameMaxLength = UserChanged.UserNameMaxLength, DisplayNameMaxLength = UserChanged.DisplayNameMaxLength, EmailMaxLength = UserChanged.EmailMaxLength;

    public int Id { get; set; }
    public required string UserName { get; set; }
    public required string DisplayName { get; set; }
    public string Email { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public DateTime? LastLoginAt { get; set; }
    /// <summary>When a replicated field last changed.</summary>
    public DateTime UpdatedAt { get; set; }
    /// <summary>Increases with each replicated change; carried by <c>users.changed</c> so replicas drop stale updates.</summary>
    public long Version { get; set; }
}
