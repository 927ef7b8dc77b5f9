using System.Threading.Channels;

namespace Celeriac.Messaging;

/// <summary>A bounded queue for one reader that drops its oldest item when full, and says so now and then.</summary>
internal static class DropOldestChannel
{
    /// <summary>
    /// A channel of <paramref name="capacity"/> items; <paramref name="reportDrops"/> gets the running count of dropped
    /// items at the first drop and at every <paramref name="capacity"/>th after it (a log line, not one per item).
    /// </summary>
    public static Channel<T> Create<T>(int capacity, Action<long> reportDrops)
    {
        long dropped = 0;
        return Channel.CreateBounded<T>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ =>
            {
                var count = Interlocked.Increment(ref dropped);
                if (count == 1 || count % capacity == 0) reportDrops(count);
            });
    }
}
