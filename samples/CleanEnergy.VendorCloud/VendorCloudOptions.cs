namespace CleanEnergy.VendorCloud;

/// <summary>
/// How the simulated vendor cloud starts: its fleet, its random seed, the grid's time zone, and the trouble it makes.
/// Bound from the <c>VendorCloud</c> configuration section when run on its own (<c>--VendorCloud:Seed=42</c>,
/// <c>VendorCloud__Trouble__FailureRate=0.3</c>); passed to <see cref="VendorCloudServer.StartAsync"/> in-process.
/// </summary>
public sealed class VendorCloudOptions
{
    /// <summary>The configuration section the standalone app binds: <c>VendorCloud</c>.</summary>
    public const string SectionName = "VendorCloud";

    /// <summary>
    /// Seed for every random choice (device parameters, power noise, the grid's noise and weather, trouble rolls).
    /// Default: <see langword="null"/>, a fresh seed per start, logged so a run can be repeated.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// How many devices the fleet has, 1 to 1,000. Default 6: the first six of the catalogue (vx-1001 to vx-1006); more
    /// repeat the catalogue with numbered names ("Living-room plug 2", vx-1007, …).
    /// </summary>
    public int DeviceCount { get; set; } = 6;

    /// <summary>
    /// The time zone whose clock shapes the grid's day (night and midday low, evening peak): a system time zone id
    /// such as <c>Europe/London</c>, or <c>UTC</c>. Default: <see langword="null"/>, the machine's local time zone.
    /// </summary>
    public string? TimeZone { get; set; }

    /// <summary>The trouble at start; changed at run time with <c>PUT /admin/trouble</c> or <see cref="VendorCloudHandle.Trouble"/>. Default: none.</summary>
    public TroubleSettings Trouble { get; set; } = new();

    /// <summary>How many API calls <c>GET /admin/calls</c> keeps (the most recent), 1 to 100,000. Default 1,000.</summary>
    public int CallLogCapacity { get; set; } = 1000;

    /// <summary>
    /// Where <see cref="VendorCloudServer.StartAsync"/> listens. Default <c>http://127.0.0.1:0</c>: a free loopback
    /// port, read back from <see cref="VendorCloudHandle.BaseAddress"/>. The standalone app uses <c>--urls</c> instead.
    /// </summary>
    public string Urls { get; set; } = "http://127.0.0.1:0";

    /// <summary>
    /// The clock for everything simulated (device state, grid signal, latencies and hangs, the call log). Default:
    /// <see cref="TimeProvider.System"/>. Tests pass a <c>FakeTimeProvider</c>. Not bound from configuration.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// Adjusts the in-process server's logging (for example: clear the providers, or forward to the host app's).
    /// Default: console, with ASP.NET Core's own categories at Warning. Not bound from configuration.
    /// </summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; set; }

    internal IEnumerable<string> Validate()
    {
        if (DeviceCount is < 1 or > 1000)
            yield return $"DeviceCount must be between 1 and 1000 (was {DeviceCount}).";
        if (CallLogCapacity is < 1 or > 100_000)
            yield return $"CallLogCapacity must be between 1 and 100000 (was {CallLogCapacity}).";
        if (string.IsNullOrWhiteSpace(Urls))
            yield return "Urls must not be empty.";
        if (TimeZone is { Length: > 0 } zone && !Simulation.Zones.TryFind(zone, out _))
            yield return $"TimeZone '{zone}' is not a known time zone id.";
        if (Trouble is null)
            yield return "Trouble must not be null.";
        else
            foreach (var error in Trouble.Validate(knownDevices: null))
                yield return "Trouble: " + error;
    }
}
