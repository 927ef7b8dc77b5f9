using System.Globalization;

namespace CleanEnergy.VendorCloud;

/// <summary>
/// The trouble the vendor cloud makes on <c>/api/…</c> calls (never on <c>/admin/…</c>). Each call, in order: waits a
/// random latency in <see cref="LatencyMs"/>; if it names an offline device, answers 504 (or hangs, then 504); else with
/// probability <see cref="FailureRate"/> answers 500, 502 or 503 without doing anything; else with probability
/// <see cref="TimeoutRate"/> does its work (a switch takes effect) and holds the answer back for
/// <see cref="TimeoutDelayMs"/>, so a client with a shorter timeout gives up. JSON shape, as in <c>GET /admin/trouble</c>:
/// <c>{"failureRate":0,"timeoutRate":0,"timeoutDelayMs":10000,"latencyMs":{"min":0,"max":0},"offlineMode":"error","offlineDevices":[]}</c>.
/// </summary>
public sealed record TroubleSettings
{
    /// <summary>Fraction of calls, 0 to 1, answered 500, 502 or 503 (equally likely) without effect. Default 0.</summary>
    public double FailureRate { get; init; }

    /// <summary>Fraction of calls, 0 to 1, whose answer is held back for <see cref="TimeoutDelayMs"/>. Default 0.</summary>
    public double TimeoutRate { get; init; }

    /// <summary>How long a timed-out call (and a call to a hanging offline device) is held, 0 to 600,000 ms. Default 10,000.</summary>
    public int TimeoutDelayMs { get; init; } = 10_000;

    /// <summary>Latency added to every call, uniform between min and max milliseconds (inclusive). Default 0–0.</summary>
    public LatencyRange LatencyMs { get; init; } = new();

    /// <summary>How calls for an offline device are answered. Default <see cref="OfflineMode.Error"/>: 504 at once.</summary>
    public OfflineMode OfflineMode { get; init; }

    /// <summary>Vendor ids of the devices that are offline. Default: none.</summary>
    public IReadOnlyList<string> OfflineDevices { get; init; } = [];

    /// <summary>The settings in one line, for logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"failureRate {FailureRate}, timeoutRate {TimeoutRate} ({TimeoutDelayMs} ms), latency {LatencyMs.Min}-{LatencyMs.Max} ms, offline [{string.Join(", ", OfflineDevices)}] ({OfflineMode})");

    internal IEnumerable<string> Validate(IReadOnlySet<string>? knownDevices)
    {
        if (!(FailureRate is >= 0 and <= 1))
            yield return $"failureRate must be between 0 and 1 (was {FailureRate.ToString(CultureInfo.InvariantCulture)}).";
        if (!(TimeoutRate is >= 0 and <= 1))
            yield return $"timeoutRate must be between 0 and 1 (was {TimeoutRate.ToString(CultureInfo.InvariantCulture)}).";
        if (TimeoutDelayMs is < 0 or > 600_000)
            yield return $"timeoutDelayMs must be between 0 and 600000 (was {TimeoutDelayMs}).";
        if (LatencyMs is null)
            yield return "latencyMs must not be null.";
        else if (LatencyMs.Min < 0 || LatencyMs.Max < LatencyMs.Min || LatencyMs.Max > 600_000)
            yield return $"latencyMs must have 0 <= min <= max <= 600000 (was {LatencyMs.Min}-{LatencyMs.Max}).";
        if (!Enum.IsDefined(OfflineMode))
            yield return $"offlineMode must be error or hang (was {OfflineMode}).";
        if (OfflineDevices is null)
            yield return "offlineDevices must not be null.";
        else if (knownDevices is not null)
            foreach (var id in OfflineDevices.Where(id => !knownDevices.Contains(id)))
                yield return $"offlineDevices: no device has vendor id '{id}'.";
    }
}

/// <summary>A latency range in milliseconds, both ends inclusive: <c>{"min":20,"max":200}</c>.</summary>
public sealed record LatencyRange
{
    /// <summary>The shortest added latency, in milliseconds. Default 0.</summary>
    public int Min { get; init; }

    /// <summary>The longest added latency, in milliseconds. Default 0.</summary>
    public int Max { get; init; }
}

/// <summary>How the cloud answers a call for a device that is offline.</summary>
public enum OfflineMode
{
    /// <summary>504 Gateway Timeout at once (after the configured latency).</summary>
    Error,

    /// <summary>Nothing for <see cref="TroubleSettings.TimeoutDelayMs"/>, then 504: the client usually times out first.</summary>
    Hang,
}
