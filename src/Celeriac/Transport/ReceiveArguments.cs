namespace Celeriac.Transport;

/// <summary>The argument checks every <see cref="ITaskTransport.ReceiveAsync"/> shares, for transport authors.</summary>
public static class ReceiveArguments
{
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(365);

    /// <summary>
    /// Throws for no queues, a <paramref name="maxMessages"/> below 1 or a lease that is not positive. Returns the
    /// queues without repeats and the wait clamped to [0, one year] (<see cref="Timeout.InfiniteTimeSpan"/> is a year).
    /// </summary>
    public static (IReadOnlyList<string> Queues, TimeSpan Wait) Check(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait)
    {
        ArgumentNullException.ThrowIfNull(queues);
        if (queues.Count == 0) throw new ArgumentException("Name at least one queue.", nameof(queues));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        var wait = maxWait == Timeout.InfiniteTimeSpan ? LongestWait : TimeSpan.FromTicks(Math.Clamp(maxWait.Ticks, 0, LongestWait.Ticks));
        return (queues.Count > 1 ? queues.Distinct(StringComparer.Ordinal).ToArray() : queues, wait);
    }
}
