namespace Celeriac;

/// <summary>Scheduler (beat) settings. Bound from the <c>Celeriac:Beat</c> configuration section.</summary>
public sealed class BeatOptions
{
    /// <summary>
    /// Lease of the leader key <c>beat:leader</c>; the leader renews it every third of it. When the leader dies,
    /// another scheduler takes over once the lease runs out (within the lease plus a tenth of it, at most 1 s more).
    /// Default 10 s.
    /// </summary>
    public TimeSpan LeaderLease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often the leader reads the schedules again, to see schedules added, changed, paused or removed by another
    /// process. Changes made through <see cref="IScheduleManager"/> in the leader's own process are seen at once. Default 1 s.
    /// </summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(1);
}
