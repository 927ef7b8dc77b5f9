using System.Threading.Channels;
using Celeriac.Messaging;
using Microsoft.Extensions.Logging;

namespace Celeriac;

/// <summary>
/// One local subscriber of a group, for authors of channel layers: its own bounded queue and pump, so the callback
/// gets messages one at a time, in the order they were posted, never on the sender's thread, and a slow callback
/// delays only itself. Beyond <see cref="Capacity"/> queued messages the oldest are dropped, with a warning: a
/// consumer sees the gap in offsets and resumes from the group's history.
/// </summary>
public sealed partial class ChannelSubscriber : IAsyncDisposable
{
    /// <summary>Messages a subscriber may fall behind by before the oldest are dropped.</summary>
    public const int Capacity = 10_000;

    private static readonly AsyncLocal<ChannelSubscriber?> s_delivering = new();

    private readonly Func<GroupMessage, ValueTask> _onMessage;
    private readonly Action<ChannelSubscriber>? _detach;
    private readonly ILogger _logger;
    private readonly Channel<GroupMessage> _queue;
    private readonly Task _pump;
    private volatile bool _stopped;

    /// <summary>Starts the pump.</summary>
    /// <param name="group">The group subscribed to.</param>
    /// <param name="onMessage">The callback; an exception from it is logged and the next message follows.</param>
    /// <param name="logger">Where failures and drops are logged.</param>
    /// <param name="detach">Called once, first thing in <see cref="DisposeAsync"/>: the layer stops posting to this subscriber.</param>
    public ChannelSubscriber(string group, Func<GroupMessage, ValueTask> onMessage, ILogger logger, Action<ChannelSubscriber>? detach = null)
    {
        ArgumentNullException.ThrowIfNull(onMessage);
        ArgumentNullException.ThrowIfNull(logger);
        Group = group;
        _onMessage = onMessage;
        _logger = logger;
        _detach = detach;
        _queue = DropOldestChannel.Create<GroupMessage>(Capacity, dropped => LogBehind(logger, group, Capacity, dropped));
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>The group subscribed to.</summary>
    public string Group { get; }

    /// <summary>Queues <paramref name="message"/> for the callback; never blocks.</summary>
    public void Post(GroupMessage message) => _queue.Writer.TryWrite(message);

    /// <summary>No more messages will be posted: the pump ends after those already queued (the layer is closing).</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>
    /// Detaches the subscriber and stops its pump: once this returns no callback runs. Called from the subscriber's
    /// own callback, it returns at once and the pump ends when that callback returns.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped) return;
        _stopped = true;
        _detach?.Invoke(this);
        _queue.Writer.TryComplete();
        if (s_delivering.Value != this) await _pump.ConfigureAwait(false);
    }

    private async Task PumpAsync()
    {
        s_delivering.Value = this;
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (!_stopped && reader.TryRead(out var message))
            {
                try
                {
                    await _onMessage(message).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_logger, e, message.Group, message.Offset);
                }
            }
            if (_stopped) return;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A subscriber of group {Group} failed on message {Offset}")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string group, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A subscriber of group {Group} fell more than {Capacity} messages behind; {Dropped} oldest messages dropped so far")]
    private static partial void LogBehind(ILogger logger, string group, int capacity, long dropped);
}
