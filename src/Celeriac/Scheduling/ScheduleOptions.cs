namespace Celeriac;

/// <summary>Optional settings of one schedule, given to <c>MapSchedule</c> or <see cref="ScheduleDefinition"/>'s factories.</summary>
public sealed class ScheduleOptions
{
    /// <summary>Queue the task is sent to; default: the task's own queue, else <see cref="CeleriacOptions.DefaultQueue"/>.</summary>
    public string? Queue { get; set; }

    /// <summary>Priority of the sent message (higher runs first within its queue). Default 0.</summary>
    public int Priority { get; set; }

    /// <summary>
    /// How long after it is sent a tick's message may wait for a worker before it expires (recorded EXPIRED, not run).
    /// Default <see langword="null"/>: until the next tick is due, so ticks never pile up behind a stopped worker.
    /// </summary>
    public TimeSpan? Expires { get; set; }

    /// <summary>What to do with ticks that came due while no scheduler ran. Default <see cref="MissedTickPolicy.Skip"/>.</summary>
    public MissedTickPolicy MissedTicks { get; set; } = MissedTickPolicy.Skip;
}
