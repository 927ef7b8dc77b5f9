using System.Collections.Concurrent;
using System.Threading.Channels;
using Celeriac.Events;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Worker;

/// <summary>
/// Consumes queues and runs tasks, and the queues of the durable subscriptions mapped in this process.
/// <para>
/// Lifecycle: <see cref="RunAsync"/> starts one fetch loop, <c>Concurrency</c> runners and one lease renewer. The
/// fetch loop leases as many messages as there are free slots (<c>Concurrency + Prefetch</c>) and hands them to the
/// runners through a bounded channel; each message holds its slot until it is acked, released or dead-lettered.
/// The renewer extends the lease of every held message each third of <c>LeaseDuration</c>, so long tasks are not
/// redelivered while they run. When the stopping token fires, fetching stops, messages not yet started are released
/// at once, running tasks get <c>ShutdownTimeout</c> to finish, and those still running then are cancelled and
/// released back to their queue (so another worker runs them again: at-least-once).
/// </para>
/// <para>
/// A queue that cannot make progress is visible and does not hold up the others: a receive that fails with
/// <see cref="QueueFaultException"/> sets that queue aside with one error log, the loop goes on with the other queues
/// and tries it again every <c>QueueRetryInterval</c>, and logs when it works again. Other receive failures back off
/// (one warning line each); after <see cref="FailuresBeforeError"/> in a row one error names the queues and the cause,
/// and the first success after them says how long it took. <see cref="Status"/> holds the same facts for health checks.
/// </para>
/// </summary>
internal sealed partial class TaskWorker(
    ITaskTransport transport,
    IResultStore results,
    TaskRegistry registry,
    SubscriptionRegistry subscriptions,
    TaskClient client,
    ILockProvider locks,
    TaskJournal journal,
    LocalProcess process,
    IServiceScopeFactory scopes,
    IOptions<CeleriacOptions> options,
    TimeProvider time,
    ILogger<TaskWorker> logger)
{
    private readonly CeleriacOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, LeasedMessage> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _locks = new(StringComparer.Ordinal);
    private TimeSpan _lease = TimeSpan.FromSeconds(30);

    /// <summary>Receive failures in a row after which one error is logged.</summary>
    internal const int FailuresBeforeError = 5;

    /// <summary>Number of messages leased by this worker right now (buffered or running).</summary>
    public int Held => _held.Count;

    /// <summary>How the fetch loop is doing: its last store round trip, failures in a row, queues set aside.</summary>
    public FetchStatus Status { get; } = new();

    /// <summary>Runs until <paramref name="stoppingToken"/> fires, then shuts down as described above.</summary>
    public async Task RunAsync(WorkerOptions settings, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var queues = settings.Queues.Concat(subscriptions.Durable.Select(s => s.Queue!)).Distinct(StringComparer.Ordinal).ToArray();
        _lease = settings.LeaseDuration;
        using var slots = new WorkerSlots(settings.Concurrency + settings.Prefetch);
        var buffer = Channel.CreateBounded<LeasedMessage>(new BoundedChannelOptions(settings.Concurrency + settings.Prefetch)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
        });
        using var abort = new CancellationTokenSource();
        using var renewStop = new CancellationTokenSource();
        using var stopping = stoppingToken.Register(() => { _stopping = true; process.Poke(); });

        LogStarting(string.Join(",", queues), settings.Concurrency, settings.Prefetch);
        var run = new RunState(buffer.Reader, slots, settings, queues, stoppingToken, abort.Token);
        lock (_runGate)
        {
            _run = run;
            _stopping = false;
            AddRunners(run, settings.Concurrency);
        }
        using var role = process.Enter("worker");
        var renewer = RenewLoopAsync(settings.LeaseDuration, renewStop.Token);

        await FetchLoopAsync(queues, slots, buffer.Writer, settings, stoppingToken).ConfigureAwait(false);
        Task[] runners;
        lock (_runGate)
        {
            run.Closed = true;
            runners = [.. run.Runners.Select(r => r.Task)];
        }
        buffer.Writer.TryComplete();
        while (buffer.Reader.TryRead(out var notStarted))
        {
            await TryAsync(async () => { await ReleaseAsync(notStarted).ConfigureAwait(false); return true; }, "release").ConfigureAwait(false);
            slots.Release();
        }

        var all = Task.WhenAll(runners);
        if (await Task.WhenAny(all, Task.Delay(settings.ShutdownTimeout, time, CancellationToken.None)).ConfigureAwait(false) != all)
        {
            LogShutdownTimeout(_held.Count, settings.ShutdownTimeout);
            await abort.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5), time, CancellationToken.None)).ConfigureAwait(false);
        }
        await renewStop.CancelAsync().ConfigureAwait(false);
        await renewer.ConfigureAwait(false);
        foreach (var message in _held.Values)
            await TryAsync(() => transport.ReleaseAsync(message, null, null, CancellationToken.None), "release").ConfigureAwait(false);
        _held.Clear();
        lock (_runGate)
        {
            foreach (var runner in run.Runners.Where(r => r.Task.IsCompleted)) runner.Retire.Dispose();
            _run = null;
        }
        LogStopped();
    }

    private async Task FetchLoopAsync(string[] queues, WorkerSlots slots, ChannelWriter<LeasedMessage> buffer, WorkerOptions settings, CancellationToken stoppingToken)
    {
        var failures = 0;
        DateTimeOffset? failingSince = null;
        var all = string.Join(",", queues);
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var asking = Status.QueuesToAsk(queues, now);
            if (asking.Count == 0)
            {
                // Every queue is set aside: wait for the first retry time.
                try { await Task.Delay(Status.NextRetry(now), time, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            try
            {
                await slots.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var want = 1;
            while (slots.TryTake()) want++;

            IReadOnlyList<LeasedMessage> received;
            try
            {
                received = await ReceiveWatchedAsync(asking, want, settings, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                slots.Release(want);
                return;
            }
            catch (QueueFaultException e) when (asking.Contains(e.Queue, StringComparer.Ordinal))
            {
                slots.Release(want);
                if (Status.SetAside(e.Queue, e.Cause, time.GetUtcNow() + settings.QueueRetryInterval))
                    LogQueueSetAside(e.Queue, e.Cause, settings.QueueRetryInterval);
                continue;
            }
            catch (Exception e)
            {
                slots.Release(want);
                failures++;
                failingSince ??= time.GetUtcNow();
                Status.Failed(e, stuck: e is FetchWatchdogException);
                if (e is FetchWatchdogException stuck)
                {
                    // Stuck, not failing: no pause, a new receive at once.
                    LogWatchdogFired(all, stuck.Waited);
                    continue;
                }
                var pause = TimeSpan.FromMilliseconds(Math.Min(5000, 100 * Math.Pow(2, Math.Min(failures, 10))));
                if (failures == FailuresBeforeError) LogFetchStuck(e, all, failures, e.Message);
                else LogFetchFailed(all, e.GetType().Name, e.Message, pause, failures);
                try { await Task.Delay(pause, time, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }

            Status.Succeeded(time.GetUtcNow());
            if (failures > 0)
            {
                LogFetchRecovered(all, failures, time.GetUtcNow() - failingSince!.Value);
                failures = 0;
                failingSince = null;
            }
            foreach (var queue in asking)
                if (Status.Recovered(queue)) LogQueueRecovered(queue);

            if (received.Count < want) slots.Release(want - received.Count);
            foreach (var message in received)
            {
                _held[message.Id] = message;
                await buffer.WriteAsync(message, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// One receive under the watchdog (<see cref="WorkerOptions.WatchdogTimeout"/>): a call that has not returned in
    /// time is cancelled and abandoned with <see cref="FetchWatchdogException"/>; should it still lease messages, they
    /// are released at once.
    /// </summary>
    private async ValueTask<IReadOnlyList<LeasedMessage>> ReceiveWatchedAsync(IReadOnlyList<string> queues, int want, WorkerOptions settings, CancellationToken stoppingToken)
    {
        if (settings.WatchdogTimeout <= TimeSpan.Zero)
            return await transport.ReceiveAsync(queues, want, settings.LeaseDuration, settings.FetchWait, stoppingToken).ConfigureAwait(false);
        var abort = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var receive = transport.ReceiveAsync(queues, want, settings.LeaseDuration, settings.FetchWait, abort.Token);
        if (receive.IsCompletedSuccessfully)
        {
            abort.Dispose();
            return receive.Result;
        }
        var call = receive.AsTask();
        var bound = settings.FetchWait + settings.WatchdogTimeout;
        try
        {
            var received = await call.WaitAsync(bound, time, stoppingToken).ConfigureAwait(false);
            abort.Dispose();
            return received;
        }
        catch (TimeoutException)
        {
            await abort.CancelAsync().ConfigureAwait(false);
            _ = call.ContinueWith(async t =>
            {
                abort.Dispose();
                if (!t.IsCompletedSuccessfully) return;   // observed: a late failure of an abandoned call means nothing
                foreach (var message in t.Result)
                    await TryAsync(() => transport.ReleaseAsync(message, null, null, CancellationToken.None), "release").ConfigureAwait(false);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new FetchWatchdogException(bound);
        }
    }

    private async Task RunnerAsync(ChannelReader<LeasedMessage> buffer, WorkerSlots slots, WorkerOptions settings, CancellationToken stoppingToken, CancellationToken abort, CancellationToken retire)
    {
        while (true)
        {
            LeasedMessage? message;
            try
            {
                // A retired runner leaves when idle, or after the message it runs (the concurrency went down).
                if (retire.IsCancellationRequested || !await buffer.WaitToReadAsync(retire).ConfigureAwait(false)) return;
                if (retire.IsCancellationRequested) return;
                if (!buffer.TryRead(out message)) continue;
            }
            catch (OperationCanceledException) when (retire.IsCancellationRequested)
            {
                return;
            }
            try
            {
                if (stoppingToken.IsCancellationRequested)
                    await ReleaseAsync(message).ConfigureAwait(false);
                else
                    await ProcessAsync(message, settings, abort).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // ProcessAsync handles task errors itself; this is a store failure while settling the message.
                // The lease will run out and the message will be delivered again.
                LogSettleFailed(e, message.Id);
            }
            finally
            {
                _held.TryRemove(KeyValuePair.Create(message.Id, message));
                slots.Release();
            }
        }
    }

    private async Task RenewLoopAsync(TimeSpan lease, CancellationToken cancellationToken)
    {
        var every = lease / 3;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, time, cancellationToken).ConfigureAwait(false);
                foreach (var (key, token) in _locks.ToArray())
                    if (!await locks.RenewAsync(key, token, lease, cancellationToken).ConfigureAwait(false) && _locks.ContainsKey(key))
                        LogLockLost(key);
                var held = _held.Values.ToList();
                if (held.Count == 0) continue;
                var lost = await transport.RenewAsync(held, lease, cancellationToken).ConfigureAwait(false);
                // A message settled while the renewal was under way is not lost: only report those still held.
                foreach (var message in lost)
                    if (_held.TryGetValue(message.Id, out var current) && current.LeaseToken == message.LeaseToken)
                        LogLeaseLost(message.Id);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRenewFailed(e);
            }
        }
    }

    private async Task ReleaseAsync(LeasedMessage message)
    {
        if (_held.TryRemove(KeyValuePair.Create(message.Id, message)))
            await transport.ReleaseAsync(message, null, null, CancellationToken.None).ConfigureAwait(false);
    }

    private async Task TryAsync(Func<ValueTask<bool>> action, string what)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogStoreCallFailed(e, what);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker consuming {Queues} with concurrency {Concurrency}, prefetch {Prefetch}")]
    private partial void LogStarting(string queues, int concurrency, int prefetch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker stopped")]
    private partial void LogStopped();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} task(s) still running after the shutdown timeout of {Timeout}; cancelling them and releasing their messages")]
    private partial void LogShutdownTimeout(int count, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fetching from {Queues} failed ({ErrorType}: {Error}); trying again in {Pause} (attempt {Attempt})")]
    private partial void LogFetchFailed(string queues, string errorType, string error, TimeSpan pause, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queues {Queues} cannot make progress: {Attempts} fetches in a row failed: {Error}")]
    private partial void LogFetchStuck(Exception exception, string queues, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Watchdog: a receive from {Queues} has not returned for {Waited} (a stuck store connection?); abandoned it and receiving again. The worker reports unhealthy until a receive works")]
    private partial void LogWatchdogFired(string queues, TimeSpan waited);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetching from {Queues} works again after {Attempts} failed attempt(s) over {Duration}")]
    private partial void LogFetchRecovered(string queues, int attempts, TimeSpan duration);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue {Queue} cannot make progress: {Cause}. Consuming the other queues; trying it again every {Interval}")]
    private partial void LogQueueSetAside(string queue, string cause, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Queue} works again")]
    private partial void LogQueueRecovered(string queue);

    [LoggerMessage(Level = LogLevel.Error, Message = "Settling message {MessageId} failed; it will be delivered again when its lease runs out")]
    private partial void LogSettleFailed(Exception exception, string messageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease of message {MessageId} was lost (it ran longer than its lease without renewal); another worker may run it too")]
    private partial void LogLeaseLost(string messageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lock {Key} was lost while its task ran (the store was unreachable longer than the lease); another run may take it")]
    private partial void LogLockLost(string key);

    [LoggerMessage(Level = LogLevel.Error, Message = "Renewing leases failed")]
    private partial void LogRenewFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Transport call {What} failed")]
    private partial void LogStoreCallFailed(Exception exception, string what);
}
