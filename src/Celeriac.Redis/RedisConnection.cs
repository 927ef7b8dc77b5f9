using System.Collections.Concurrent;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// The one connection (multiplexer) of a container, shared by the transport, the result store and the lock provider.
/// <para>
/// Lifecycle: nothing is opened until the first call; then the multiplexer connects (without aborting when the
/// server is down) and keeps reconnecting on its own for as long as it lives. While no connection is up, commands fail
/// at once with <see cref="RedisConnectionException"/> (the worker logs and backs off); the first failure and the
/// restore are logged. Subscriptions (queue notifications, result announcements) are made once and renewed by the
/// multiplexer after a reconnect; because messages published while disconnected are lost, every receive and result
/// waiter is woken on restore so it looks again. The container disposes the connection at host shutdown.
/// </para>
/// </summary>
internal sealed partial class RedisConnection : IAsyncDisposable, IDisposable
{
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly Lazy<Task<ConnectionMultiplexer>> _connect;
    private readonly ConcurrentDictionary<string, Signal> _queueSignals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _queueSubscriptions = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly HashSet<ConnectionType> _down = [];
    private Task? _resultSubscription;
    private IDatabase? _database;
    private volatile bool _disposed;

    public RedisConnection(RedisOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Time = time;
        Keys = new RedisKeys(options.KeyPrefix);
        _connect = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync, LazyThreadSafetyMode.ExecutionAndPublication);
        BatchTimeout = TimeSpan.FromMilliseconds(Math.Max(10_000, 2 * AsyncTimeoutMs(options.Configuration)));
    }

    /// <summary>
    /// How long a batched call (acks, enqueues, result writes) may take before its callers are failed and the next batch
    /// goes out: twice the client's command timeout (<c>asyncTimeout</c>, 5 s by default), at least 10 s.
    /// </summary>
    public TimeSpan BatchTimeout { get; }

    private static int AsyncTimeoutMs(string configuration)
    {
        try
        {
            return ConfigurationOptions.Parse(configuration).AsyncTimeout;
        }
        catch (ArgumentException)
        {
            return 5000;   // the connect reports the bad configuration
        }
    }

    public TimeProvider Time { get; }

    public RedisKeys Keys { get; }

    /// <summary>Waiters for task results of this process, woken by the result channel.</summary>
    public ResultWaiters ResultWaiters { get; } = new();

    /// <summary>Now, from the injected clock, in Unix milliseconds (scripts get the time from the client).</summary>
    public long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The database, connecting at the first call.</summary>
    public ValueTask<IDatabase> DatabaseAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _database is { } database ? new ValueTask<IDatabase>(database) : new ValueTask<IDatabase>(ConnectDatabaseAsync());
    }

    /// <summary>Whether the server is a Redis Cluster (known after the first connect).</summary>
    public bool IsCluster { get; private set; }

    private async Task<IDatabase> ConnectDatabaseAsync()
    {
        var multiplexer = await _connect.Value.ConfigureAwait(false);
        IsCluster = multiplexer.GetEndPoints().Any(e => multiplexer.GetServer(e).ServerType == ServerType.Cluster);
        return _database = multiplexer.GetDatabase();
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var configuration = ConfigurationOptions.Parse(_options.Configuration);
        configuration.AbortOnConnectFail = false;
        // A command issued while disconnected fails at once (RedisConnectionException) rather than waiting in a
        // backlog: the worker backs off and the sender sees a clear error.
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ClientName ??= "celeriac";
        // Complete socket reads on the .NET thread pool rather than the multiplexer's own dedicated threads: Celeriac is
        // async end to end (no sync-over-async to starve the pool), and on small machines this cuts round-trip latency
        // by a factor of three and CPU per command markedly (see docs/redis.md).
        configuration.SocketManager = SocketManager.ThreadPool;
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        multiplexer.InternalError += OnInternalError;
        var safe = configuration.ToString(includePassword: false);
        if (multiplexer.IsConnected) LogConnected(safe);
        else LogNotConnected(safe);
        return multiplexer;
    }

    /// <summary>The signal pulsed when something may have become due in <paramref name="queue"/>.</summary>
    public Signal QueueSignal(string queue) => _queueSignals.GetOrAdd(queue, static _ => new Signal());

    /// <summary>Wakes this process's receivers of <paramref name="queue"/> (after a send or release made here).</summary>
    public void PulseQueue(string queue)
    {
        if (_queueSignals.TryGetValue(queue, out var signal)) signal.Pulse();
    }

    /// <summary>Subscribes (once per process) to the notification channel of each queue.</summary>
    public Task SubscribeQueuesAsync(IReadOnlyList<string> queues)
    {
        if (queues.Count == 1) return SubscribeQueueAsync(queues[0]);
        var pending = new List<Task>(queues.Count);
        foreach (var queue in queues)
        {
            var task = SubscribeQueueAsync(queue);
            if (!task.IsCompletedSuccessfully) pending.Add(task);
        }
        return pending.Count == 0 ? Task.CompletedTask : Task.WhenAll(pending);
    }

    private Task SubscribeQueueAsync(string queue)
    {
        if (_queueSubscriptions.TryGetValue(queue, out var existing) && !existing.IsFaulted && !existing.IsCanceled) return existing;
        var signal = QueueSignal(queue);
        var task = _queueSubscriptions.AddOrUpdate(queue,
            _ => SubscribeAsync(Keys.QueueChannel(queue), (_, _) => signal.Pulse()),
            (_, old) => old.IsFaulted || old.IsCanceled ? SubscribeAsync(Keys.QueueChannel(queue), (_, _) => signal.Pulse()) : old);
        return task;
    }

    /// <summary>Subscribes (once per process) to the result channel, which wakes this process's result waiters.</summary>
    public Task SubscribeResultsAsync()
    {
        lock (_gate)
        {
            if (_resultSubscription is { } existing && !existing.IsFaulted && !existing.IsCanceled) return existing;
            var waiters = ResultWaiters;
            return _resultSubscription = SubscribeAsync(Keys.ResultChannel, (_, id) =>
            {
                if (!id.IsNullOrEmpty) waiters.Complete(id!);
            });
        }
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/> on the shared subscriber and returns its messages as a queue that is
    /// processed in order; completes once the server has confirmed the subscription. The caller unsubscribes through
    /// the queue (the server subscription ends with the channel's last handler).
    /// </summary>
    public Task<ChannelMessageQueue> SubscribeOrderedAsync(RedisChannel channel) =>
        WithSubscriberAsync(channel, static (subscriber, channel) => subscriber.SubscribeAsync(channel));

    /// <summary>
    /// Ends a subscription made by <see cref="SubscribeOrderedAsync"/>, tried again like a subscribe while the
    /// subscription connection is not up: a failed unsubscribe would leave the server sending the channel's messages
    /// to this process for as long as its connection lives.
    /// </summary>
    public Task UnsubscribeAsync(ChannelMessageQueue messages) =>
        WithSubscriberAsync(messages.Channel, async (_, _) =>
        {
            await messages.UnsubscribeAsync().ConfigureAwait(false);
            return true;
        });

    private Task SubscribeAsync(RedisChannel channel, Action<RedisChannel, RedisValue> handler) =>
        WithSubscriberAsync(channel, async (subscriber, channel) =>
        {
            await subscriber.SubscribeAsync(channel, handler).ConfigureAwait(false);
            return true;
        });

    /// <summary>
    /// Runs a subscribe (or an unsubscribe) on the shared subscriber. The multiplexer reports itself connected once its command connection
    /// is up, and its subscription connection may still be shaking hands: a subscribe then fails at once (commands fail
    /// fast here), so it is tried again for a few seconds before the failure is passed on. Real time: this waits for a
    /// socket, not for the application's clock.
    /// </summary>
    private async Task<T> WithSubscriberAsync<T>(RedisChannel channel, Func<ISubscriber, RedisChannel, Task<T>> subscribe)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var multiplexer = await _connect.Value.ConfigureAwait(false);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await subscribe(multiplexer.GetSubscriber(), channel).ConfigureAwait(false);
            }
            catch (RedisConnectionException) when (attempt < SubscribeAttempts && !_disposed)
            {
                await Task.Delay(SubscribePause * attempt, TimeProvider.System).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Tries of a subscribe while the subscription connection is not up: 50 ms, 100 ms, … apart (2.2 s in all).</summary>
    private const int SubscribeAttempts = 10;

    private static readonly TimeSpan SubscribePause = TimeSpan.FromMilliseconds(50);

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        bool first;
        lock (_gate) first = _down.Add(e.ConnectionType);
        if (first) LogConnectionFailed(e.Exception, e.EndPoint?.ToString(), e.ConnectionType, e.FailureType);
        else LogStillDown(e.EndPoint?.ToString(), e.ConnectionType, e.FailureType);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        lock (_gate) _down.Remove(e.ConnectionType);
        LogConnectionRestored(e.EndPoint?.ToString(), e.ConnectionType);
        // Notifications published while the connection was down were lost: let every waiter look again.
        foreach (var signal in _queueSignals.Values) signal.Pulse();
        ResultWaiters.CompleteAll();
    }

    private void OnInternalError(object? sender, InternalErrorEventArgs e) =>
        LogInternalError(e.Exception, e.EndPoint?.ToString(), e.Origin);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_connect.IsValueCreated) return;
        ConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await _connect.Value.ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or ArgumentException)
        {
            return;
        }
        await multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
        await multiplexer.DisposeAsync().ConfigureAwait(false);
        foreach (var signal in _queueSignals.Values) signal.Pulse();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_connect.IsValueCreated) return;
        // Connecting ends after the connect timeout at most (abortConnect=false); dispose once it has.
        _connect.Value.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        foreach (var signal in _queueSignals.Values) signal.Pulse();
    }

    /// <summary>A reusable wake-up: <see cref="Task"/> completes at the next <see cref="Pulse"/>.</summary>
    internal sealed class Signal
    {
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => Volatile.Read(ref _next).Task;

        public void Pulse() =>
            Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to Redis {Configuration}")]
    private partial void LogConnected(string configuration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis {Configuration} is not reachable yet; Celeriac operations fail until it is, and the connection keeps retrying")]
    private partial void LogNotConnected(string configuration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis connection to {EndPoint} ({ConnectionType}) failed: {FailureType}. Celeriac operations fail until it is restored; reconnecting in the background")]
    private partial void LogConnectionFailed(Exception? exception, string? endPoint, ConnectionType connectionType, ConnectionFailureType failureType);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Redis connection to {EndPoint} ({ConnectionType}) still down: {FailureType}")]
    private partial void LogStillDown(string? endPoint, ConnectionType connectionType, ConnectionFailureType failureType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis connection to {EndPoint} ({ConnectionType}) restored")]
    private partial void LogConnectionRestored(string? endPoint, ConnectionType connectionType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Redis client internal error at {EndPoint} ({Origin})")]
    private partial void LogInternalError(Exception exception, string? endPoint, string? origin);
}
