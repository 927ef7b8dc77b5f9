using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Celeriac.AspNetCore.Channels;

/// <summary>
/// One WebSocket connection and its consumer.
/// </summary>
/// <remarks>
/// Lifecycle: the endpoint creates it and calls <see cref="RunAsync"/>, which runs the consumer's
/// <c>OnConnectAsync</c>; without an accept the request is answered 403. Once accepted three loops run: the reader
/// (socket → inbox, at most <see cref="ReceiveAhead"/> frames ahead of the handlers), the message loop (inbox →
/// the consumer's handlers, one event at a time: client frames, group messages, joins) and the writer (bounded send
/// queue → socket). Group messages enter the inbox from the node's subscriptions without waiting, so a slow consumer
/// or client never holds up the fan-out. Any close (by the consumer, the client, an error, a full queue, shutdown)
/// goes through <see cref="Close(WebSocketCloseStatus, string?, bool)"/>: the send queue is completed, the writer
/// sends the close frame, the reader sees the client's answer (or the socket is aborted after
/// <see cref="CloseTimeout"/>) and posts the end to the inbox; the loop then calls <c>OnDisconnectAsync</c> and the
/// connection leaves all its groups.
/// </remarks>
internal sealed partial class ConsumerConnection
{
    /// <summary>How long a close handshake (or a stalled write before it) may take before the socket is aborted.</summary>
    internal static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Client frames read ahead of the handlers; the reader waits (TCP backpressure) beyond that.</summary>
    private const int ReceiveAhead = 16;

    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    private readonly WebSocketConsumer _consumer;
    private readonly EndpointSettings _settings;
    private readonly ChannelsNode _node;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<InboxItem> _inbox = Channel.CreateUnbounded<InboxItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<Frame> _sendQueue;
    private readonly SemaphoreSlim _receiveSlots = new(ReceiveAhead, ReceiveAhead);
    private readonly Lock _gate = new();

    private WebSocket? _socket;
    private Task _reader = Task.CompletedTask;
    private Task _writer = Task.CompletedTask;
    private bool _accepted;
    private volatile bool _closing;
    private volatile bool _discard;
    private WebSocketCloseStatus? _closeStatus;
    private string? _closeReason;
    private ITimer? _abortTimer;
    private ITimer? _stallTimer;
    private long _droppedUnreported;
    private long _droppedTotal;
    private long _nextDropWarning;
    private int _groupBacklog;
    private TaskCompletionSource? _roomWaiter;

    public ConsumerConnection(HttpContext httpContext, WebSocketConsumer consumer, GroupHandlers handlers, EndpointSettings settings,
        ChannelsNode node, IChannelLayer layer, TimeProvider time, ILogger logger)
    {
        HttpContext = httpContext;
        _consumer = consumer;
        Handlers = handlers;
        _settings = settings;
        _node = node;
        Layer = layer;
        _time = time;
        _logger = logger;
        Id = node.NewConnectionId();
        UserName = httpContext.User.Identity is { IsAuthenticated: true, Name: var name } ? name : null;
        _sendQueue = settings.WhenFull == SendQueueFullMode.DropOldest
            ? Channel.CreateBounded<Frame>(new BoundedChannelOptions(settings.SendQueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true }, OnFrameDropped)
            : Channel.CreateBounded<Frame>(new BoundedChannelOptions(settings.SendQueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _resumeOffsets = ParseResumeOffsets(httpContext.Request.Query["celeriac-resume"].ToString());
    }

    public string Id { get; }

    public HttpContext HttpContext { get; }

    public GroupHandlers Handlers { get; }

    public IChannelLayer Layer { get; }

    /// <summary>The authenticated user's name, for the channel layer's member lists (read once: HttpContext is not thread-safe).</summary>
    public string? UserName { get; }

    private string ConsumerName => _consumer.GetType().Name;

    /// <summary>Runs the connection to its end: connect, the message loop, disconnect, cleanup.</summary>
    public async Task RunAsync()
    {
        var stopping = default(CancellationTokenRegistration);
        try
        {
            try
            {
                await _consumer.OnConnectAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogHandlerFailed(_logger, e, ConsumerName, nameof(WebSocketConsumer.OnConnectAsync), Id);
                if (!_accepted)
                {
                    Refuse(StatusCodes.Status500InternalServerError);
                    return;
                }
                Close(WebSocketCloseStatus.InternalServerError, "Server error");
            }
            if (!_accepted)
            {
                Refuse(StatusCodes.Status403Forbidden);
                return;
            }
            stopping = _node.Stopping.Register(static c => ((ConsumerConnection)c!).Close(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"), this);
            await RunLoopAsync().ConfigureAwait(false);
            try
            {
                await _consumer.OnDisconnectAsync(_closeStatus).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogHandlerFailed(_logger, e, ConsumerName, nameof(WebSocketConsumer.OnDisconnectAsync), Id);
            }
        }
        finally
        {
            await stopping.DisposeAsync().ConfigureAwait(false);
            await LeaveAllGroupsAsync().ConfigureAwait(false);
            if (_accepted)
            {
                await FinishSocketAsync().ConfigureAwait(false);
                ChannelsDiagnostics.Connections.Add(-1);
            }
            _abortTimer?.Dispose();
            _stallTimer?.Dispose();
            _receiveSlots.Dispose();
        }
    }

    private void Refuse(int status)
    {
        if (!HttpContext.Response.HasStarted) HttpContext.Response.StatusCode = status;
    }

    public async ValueTask AcceptAsync(string? subProtocol)
    {
        lock (_gate)
        {
            if (_accepted) throw new InvalidOperationException("The WebSocket is already accepted.");
            if (_closeStatus is not null) throw new InvalidOperationException("The connection was closed before it was accepted.");
        }
        var keepAlive = _settings.KeepAliveInterval;
        var socket = await HttpContext.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subProtocol,
            KeepAliveInterval = keepAlive,
            // A peer that does not answer a ping within one more interval is dropped.
            KeepAliveTimeout = keepAlive > TimeSpan.Zero ? keepAlive : Timeout.InfiniteTimeSpan,
        }).ConfigureAwait(false);
        lock (_gate)
        {
            _socket = socket;
            _accepted = true;
        }
        ChannelsDiagnostics.Connections.Add(1);
        _writer = WriteLoopAsync(socket);
        _reader = ReadLoopAsync(socket);
    }

    /// <summary>The consumer's <c>CloseAsync</c>: checks the reason, then closes after the queued frames.</summary>
    public void Close(WebSocketCloseStatus status, string? reason)
    {
        if (reason is not null && Encoding.UTF8.GetByteCount(reason) > 123)
            throw new ArgumentException("A close reason may have at most 123 UTF-8 bytes.", nameof(reason));
        Close(status, reason, discard: false);
    }

    /// <summary>
    /// Starts closing with <paramref name="status"/> (the first close wins). The writer sends what is queued (unless
    /// <paramref name="discard"/>), then the close frame; the socket is aborted if that takes over <see cref="CloseTimeout"/>.
    /// </summary>
    private void Close(WebSocketCloseStatus status, string? reason, bool discard)
    {
        lock (_gate)
        {
            if (discard) _discard = true;
            if (_closeStatus is not null) return;
            _closeStatus = status;
            _closeReason = reason;
            _closing = true;
            if (!_accepted) return;
            _abortTimer = _time.CreateTimer(static c => ((ConsumerConnection)c!).Abort(), this, CloseTimeout, Timeout.InfiniteTimeSpan);
        }
        _sendQueue.Writer.TryComplete();
    }

    private void Abort()
    {
        try
        {
            _socket?.Abort();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>After the reader ended: lets the writer finish (its close answer), then releases the socket.</summary>
    private async Task FinishSocketAsync()
    {
        lock (_gate)
        {
            _discard = true;
            if (_closeStatus is null) Abort();   // lost without a handshake: nothing more to send
        }
        _sendQueue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        await _reader.ConfigureAwait(false);
        _socket?.Dispose();
    }

    /// <summary>Queues a frame for the writer; under policy <see cref="SendQueueFullMode.Close"/> a full queue closes with 1013.</summary>
    public void Send(byte[] data, WebSocketMessageType type)
    {
        if (_closing) return;
        if (_sendQueue.Writer.TryWrite(new Frame(data, type)) || _closing) return;
        LogSendQueueFullClosing(_logger, Id, ConsumerName, _settings.SendQueueCapacity);
        Close(TryAgainLater, "Send queue full", discard: true);
    }

    public void SendText(byte[] utf8) => Send(utf8, WebSocketMessageType.Text);

    /// <summary>From the node's subscription callbacks: never waits.</summary>
    public void PostGroupMessage(GroupMessage message)
    {
        if (_closing) return;
        if (Interlocked.Increment(ref _groupBacklog) > _settings.InboxCapacity)
        {
            // The consumer's handlers fall behind (the client may be fine): same policy as a full send queue.
            Interlocked.Decrement(ref _groupBacklog);
            if (_settings.WhenFull == SendQueueFullMode.Close)
            {
                LogSendQueueFullClosing(_logger, Id, ConsumerName, _settings.InboxCapacity);
                Close(TryAgainLater, "Send queue full", discard: true);
            }
            else
            {
                CountDropped();
            }
            return;
        }
        _inbox.Writer.TryWrite(InboxItem.Group(message));
    }

    private void OnFrameDropped(Frame frame) => CountDropped();

    private void CountDropped()
    {
        Interlocked.Increment(ref _droppedUnreported);
        var total = Interlocked.Increment(ref _droppedTotal);
        ChannelsDiagnostics.FramesDropped.Add(1);
        var now = Environment.TickCount64;
        var next = Interlocked.Read(ref _nextDropWarning);
        if (now >= next && Interlocked.CompareExchange(ref _nextDropWarning, now + 10_000, next) == next)
            LogFramesDropped(_logger, Id, ConsumerName, total, _settings.SendQueueCapacity);
    }

    /// <summary>The message loop: one event at a time until the reader reports the end.</summary>
    private async Task RunLoopAsync()
    {
        var inbox = _inbox.Reader;
        while (await inbox.WaitToReadAsync().ConfigureAwait(false))
        {
            while (inbox.TryRead(out var item))
            {
                if (item.Kind == InboxKind.Disconnected) return;
                try
                {
                    if (!_closing) await HandleAsync(item).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_logger, e, ConsumerName, HandlerOf(item.Kind), Id);
                    Close(WebSocketCloseStatus.InternalServerError, "Server error", discard: false);
                }
                finally
                {
                    if (item.Kind is InboxKind.Text or InboxKind.Binary) _receiveSlots.Release();
                    else if (item.Kind == InboxKind.Group) Interlocked.Decrement(ref _groupBacklog);
                }
            }
        }
    }

    private ValueTask HandleAsync(InboxItem item) => item.Kind switch
    {
        InboxKind.Text => ReceiveTextAsync((string)item.Payload!),
        InboxKind.Binary => _consumer.OnReceiveAsync((byte[])item.Payload!),
        InboxKind.Group => DeliverLiveAsync((GroupMessage)item.Payload!),
        InboxKind.Join => CompleteJoinAsync((string)item.Payload!, item.After),
        _ => ValueTask.CompletedTask,
    };

    private static string HandlerOf(InboxKind kind) => kind switch
    {
        InboxKind.Text or InboxKind.Binary => nameof(WebSocketConsumer.OnReceiveAsync),
        InboxKind.Group => nameof(WebSocketConsumer.OnGroupMessageAsync),
        _ => "join",
    };

    private enum InboxKind
    {
        Text,
        Binary,
        Group,
        Join,
        Disconnected,
    }

    /// <summary>An event for the message loop.</summary>
    private readonly record struct InboxItem(InboxKind Kind, object? Payload, long After = 0)
    {
        public static InboxItem Group(GroupMessage message) => new(InboxKind.Group, message);

        public static InboxItem Join(string group, long after) => new(InboxKind.Join, group, after);

        public static readonly InboxItem Disconnected = new(InboxKind.Disconnected, null);
    }

    /// <summary>A frame to write: shared, never changed after it is queued.</summary>
    private readonly record struct Frame(byte[] Data, WebSocketMessageType Type);

    [LoggerMessage(Level = LogLevel.Error, Message = "WebSocket consumer {Consumer}.{Handler} failed on connection {Connection}")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string consumer, string handler, string connection);

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} ({Consumer}) reads too slowly: {Dropped} frames dropped so far (send queue of {Capacity}); the client is told to resume")]
    private static partial void LogFramesDropped(ILogger logger, string connection, string consumer, long dropped, int capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} ({Consumer}) reads too slowly: send queue of {Capacity} full, closing with 1013")]
    private static partial void LogSendQueueFullClosing(ILogger logger, string connection, string consumer, int capacity);
}
