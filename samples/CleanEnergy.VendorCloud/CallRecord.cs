namespace CleanEnergy.VendorCloud;

/// <summary>
/// One <c>/api/…</c> call as the cloud saw it (<c>GET /admin/calls</c>): when it started, method, path, the status
/// sent (499 when the client went away first, nginx's convention), how long the cloud took by its clock, and which
/// trouble, if any, it met.
/// </summary>
public sealed record CallRecord(DateTimeOffset At, string Method, string Path, int Status, double DurationMs, CallTrouble Trouble, bool ClientAborted);

/// <summary>The trouble a call met (latency is not counted: with a latency range set, every call has some).</summary>
public enum CallTrouble
{
    /// <summary>Answered normally.</summary>
    None,

    /// <summary>Answered 500, 502 or 503 without effect (<see cref="TroubleSettings.FailureRate"/>).</summary>
    Failure,

    /// <summary>Handled, answer held back (<see cref="TroubleSettings.TimeoutRate"/>).</summary>
    Timeout,

    /// <summary>Named an offline device: 504, or a hang then 504.</summary>
    Offline,
}
