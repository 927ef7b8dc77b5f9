namespace Celeriac;

/// <summary>
/// What a schedule does with the ticks that came due while no scheduler led: during downtime, while a new leader
/// took over, or before the schedule existed in the store. Ticks that come due while a leader runs are always sent.
/// </summary>
public enum MissedTickPolicy
{
    /// <summary>Send none of them; go on with the next tick. The default.</summary>
    Skip = 0,

    /// <summary>Send the most recent one once, as soon as a leader runs, then go on with the next tick.</summary>
    RunOnce = 1,
}

/// <summary>Where a schedule was defined.</summary>
public enum ScheduleSource
{
    /// <summary>In code, with <c>MapSchedule</c>: written to the store by every scheduler that starts; it cannot be changed or removed at run time (it can be paused).</summary>
    Code = 0,

    /// <summary>At run time, through <see cref="IScheduleManager"/> or the <c>schedule</c> command.</summary>
    Dynamic = 1,
}
