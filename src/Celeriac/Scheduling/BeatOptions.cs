namespace Celeriac;

/// <summary>Scheduler (beat) settings. Bound from the <c>Celeriac:Beat</c> configuration section.</summary>
public sealed class BeatOptions
{
    /// <summary>
    /// False: this app never runs the scheduler, in any role. For an app that shares another app's store (a scheduler
    /// keeps the store's code schedules equal to its own app's, so it would remove the other app's). Default true.
    /// </summary>
    public bool Enabled { get; set; } = true;

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
