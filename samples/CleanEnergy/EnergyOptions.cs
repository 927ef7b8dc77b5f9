namespace CleanEnergy;

/// <summary>The controller's settings (configuration section <c>Energy</c>).</summary>
internal sealed class EnergyOptions
{
    public const string SectionName = "Energy";

    /// <summary>
    /// Where this app keeps its files: the SQLite databases (<c>energy.db</c> unless <c>ConnectionStrings:Energy</c> says
    /// otherwise, <c>celeriac.db</c> without Redis unless <c>Celeriac:Sqlite:Path</c> says otherwise) and the data-protection keys of the login cookies (<c>keys/</c>).
    /// Relative to the content root. Default <c>data</c>. Every process of one installation (and the command line, e.g.
    /// <c>send</c>) must use the same one.
    /// </summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The full path of <see cref="DataDirectory"/> as configured in <paramref name="configuration"/>.</summary>
    public static string DataDirectoryOf(IConfiguration configuration, string contentRoot) =>
        Path.GetFullPath(configuration[$"{SectionName}:{nameof(DataDirectory)}"] is { Length: > 0 } configured ? configured : "data", contentRoot);

    /// <summary>Devices are switched on while the latest grid intensity is under this many gCO2/kWh. Default 200.</summary>
    public double CleanThreshold { get; set; } = 200;

    /// <summary>A grid signal older than this is not decided on (the decision says <c>no-grid-signal</c>). Default 10 minutes.</summary>
    public TimeSpan GridMaxAge { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Raw observations older than this many days are rolled up into hourly aggregates. Default 7.</summary>
    public int RawRetentionDays { get; set; } = 7;

    /// <summary>
    /// How long a task sent by a fan-out (<c>devices.poll_all</c>, <c>devices.decide_all</c>) may wait in its queue
    /// (retries included) before it is dropped as EXPIRED. Must be longer than a task's whole retry chain, or an
    /// unreachable device would never be found out. Default 2 minutes.
    /// </summary>
    public TimeSpan FanOutExpiry { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Retries of vendor calls (timeouts, 5xx, no connection).</summary>
    public RetrySettings Retry { get; set; } = new();

    /// <summary>Beat schedules: fast demo defaults so the dashboard moves within seconds.</summary>
    public ScheduleSettings Schedules { get; set; } = new();

    /// <summary>
    /// User names (comma-separated) that have the <c>ops</c> role: they may open Celeriac's operations dashboard at
    /// <c>/celeriac</c>. Default <c>alice</c> (bob has no access).
    /// </summary>
    public string Operators { get; set; } = "alice";

    /// <summary>Whether <paramref name="userName"/> is one of <see cref="Operators"/>.</summary>
    public bool IsOperator(string userName) =>
        Operators.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains(userName, StringComparer.OrdinalIgnoreCase);

    /// <summary>How many login attempts the web process takes (<see cref="Web.LoginThrottle"/>).</summary>
    public LoginSettings Login { get; set; } = new();

    internal sealed class LoginSettings
    {
        /// <summary>Attempts per user name (trimmed, any case) in one <see cref="Window"/>, right or wrong. Default 5.</summary>
        public int PermitsPerUserName { get; set; } = 5;

        /// <summary>Attempts per client address in one <see cref="Window"/>, whatever the user name. Default 30.</summary>
        public int PermitsPerAddress { get; set; } = 30;

        /// <summary>The fixed window the permits are counted in; a refused attempt may try again when it ends. Default 1 minute.</summary>
        public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
    }

    internal sealed class RetrySettings
    {
        /// <summary>Retries after the first try; after the last one the device is marked unreachable. Default 4.</summary>
        public int MaxRetries { get; set; } = 4;

        /// <summary>First delay, doubled per retry, drawn with full jitter. Default 1 s.</summary>
        public TimeSpan Backoff { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Cap on the delay. Default 10 s.</summary>
        public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);
    }

    internal sealed class ScheduleSettings
    {
        /// <summary>Whether <c>MapEnergySchedules</c> maps anything. Default true.</summary>
        public bool Enabled { get; set; } = true;

        /// <summary><c>grid.refresh</c>. Default 2 s.</summary>
        public TimeSpan GridRefresh { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary><c>devices.poll_all</c>. Default 3 s.</summary>
        public TimeSpan PollAll { get; set; } = TimeSpan.FromSeconds(3);

        /// <summary><c>devices.decide_all</c>. Default 5 s.</summary>
        public TimeSpan DecideAll { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary><c>clock.tick</c> (the server time to the <c>time</c> group). Default 0.5 s.</summary>
        public TimeSpan ClockTick { get; set; } = TimeSpan.FromMilliseconds(500);

        /// <summary><c>observations.rollup</c>, a cron expression. Default <c>15 3 * * *</c> (03:15 every night).</summary>
        public string Rollup { get; set; } = "15 3 * * *";

        /// <summary>The time zone the rollup's cron is read in (IANA id); empty for UTC. Default empty.</summary>
        public string? RollupTimeZone { get; set; }
    }
}

/// <summary>Where the vendor's cloud is (configuration section <c>Vendor</c>).</summary>
internal sealed class VendorOptions
{
    public const string SectionName = "Vendor";

    /// <summary>
    /// The vendor API's base address, e.g. <c>http://127.0.0.1:5081/</c>. When unset, the one-command mode (<c>all</c>)
    /// starts the simulator in-process on a free loopback port and sets this.
    /// </summary>
    public string? BaseUrl { get; set; }

    /// <summary>HTTP timeout of one call, in seconds. Default 3.</summary>
    public double TimeoutSeconds { get; set; } = 3;
}
