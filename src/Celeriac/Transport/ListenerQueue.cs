using System.Threading.Channels;
using Celeriac.Messaging;
using Microsoft.Extensions.Logging;

namespace Celeriac.Transport;

/// <summary>
/// The queue of one live event listener, for authors of event stores (<see cref="IEventStore.ListenAsync"/>): bounded
/// to <see cref="Capacity"/> events; beyond that the oldest are dropped, with a warning, so a listener that stopped
/// reading costs bounded memory and the loss is visible.
/// </summary>
public static partial class ListenerQueue
{
    /// <summary>Events a listener may fall behind by before the oldest are dropped.</summary>
    public const int Capacity = 10_000;

    /// <summary>A new queue (one reader); drops are logged to <paramref name="logger"/> at the first and every <see cref="Capacity"/>th.</summary>
    public static Channel<PublishedEvent> Create(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        return DropOldestChannel.Create<PublishedEvent>(Capacity, dropped => LogBehind(logger, Capacity, dropped));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "An event listener fell more than {Capacity} events behind; {Dropped} oldest events dropped so far")]
    private static partial void LogBehind(ILogger logger, int capacity, long dropped);
}
