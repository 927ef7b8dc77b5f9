using System.Collections.Concurrent;
using System.Threading.Channels;
using Celeriac.Messaging;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;

namespace Celeriac.Worker;

/// <summary>
/// What remote control and presence need from a running worker: the tasks running now (each with the token source
/// a revoke cancels), the settled / failed / retried counters, and the runners, whose number changes at run time.
/// </summary>
internal sealed partial class TaskWorker
{
    private readonly Lock _runGate = new();
    private readonly ConcurrentDictionary<string, RunningEntry> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _revokedHeld = new(StringComparer.Ordinal);
    private RunState? _run;
    private volatile bool _stopping;
    private long _processed;
    private long _failed;
    private long _retried;

    /// <summary>Whether the worker loop runs now.</summary>
    public bool IsRunning
    {
        get { lock (_runGate) return _run is not null; }
    }

    /// <summary>Whether the worker has been asked to stop and is draining.</summary>
    public bool IsStopping => _stopping;

    /// <summary>The queues consumed (empty when not running).</summary>
    public IReadOnlyList<string> Queues
    {
        get { lock (_runGate) return _run?.Queues ?? []; }
    }

    /// <summary>Tasks run at once now (0 when not running).</summary>
    public int Concurrency
    {
        get { lock (_runGate) return _run?.Concurrency ?? 0; }
    }

    /// <summary>Tasks settled since start: succeeded, failed for good, expired, refused or revoked.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    /// <summary>Of those, how many failed for good (refused ones included).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Runs that failed and went back to their queue for another try.</summary>
    public long Retried => Interlocked.Read(ref _retried);

    /// <summary>The tasks running now, oldest first.</summary>
    public IReadOnlyList<RunningTask> InFlight() =>
        [.. _running.Values.Select(r => new RunningTask(r.Id, r.Task, r.StartedAt)).OrderBy(r => r.StartedAt)];

    /// <summary>
    /// Changes how many tasks run at once: more runners start now, or runners retire (an idle one at once, a busy one
    /// after its task), and the leased-ahead capacity follows (<c>concurrency + prefetch</c>). Returns the old value,
    /// or <see langword="null"/> when the worker does not run.
    /// </summary>
    public int? SetConcurrency(int concurrency)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        int old;
        lock (_runGate)
        {
            if (_run is not { Closed: false } run) return null;
            old = run.Concurrency;
            var delta = concurrency - old;
            if (delta > 0)
            {
                run.Slots.Grow(delta);
                AddRunners(run, delta);
            }
            else if (delta < 0)
            {
                run.Slots.Shrink(-delta);
                var active = run.Runners.Where(r => !r.Retire.IsCancellationRequested).Reverse().Take(-delta).ToArray();
                foreach (var runner in active) runner.Retire.Cancel();
                run.Concurrency = concurrency;
            }
        }
        if (old != concurrency) LogConcurrencyChanged(old, concurrency);
        process.Poke();
        return old;
    }

    /// <summary>
    /// Revokes task <paramref name="taskId"/> if this worker holds it: a running task's token fires (its result becomes
    /// REVOKED when it ends); a leased one not started yet is settled as REVOKED without running. Returns what was done,
    /// or <see langword="null"/> when this worker does not hold it.
    /// </summary>
    public string? Revoke(string taskId)
    {
        if (_running.TryGetValue(taskId, out var entry))
        {
            entry.Revoke();
            LogRevoking(entry.Task, taskId);
            return $"revoked {entry.Task} ({taskId}) while it ran: its cancellation token fired";
        }
        if (_held.ContainsKey(taskId))
        {
            _revokedHeld[taskId] = 0;
            // It may have started meanwhile.
            if (_running.TryGetValue(taskId, out entry)) entry.Revoke();
            return $"revoked {taskId} before it started";
        }
        return null;
    }

    /// <summary>Called with <see cref="_runGate"/> held.</summary>
    private void AddRunners(RunState run, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var retire = new CancellationTokenSource();
            var token = retire.Token;
            var task = Task.Run(() => RunnerAsync(run.Buffer, run.Slots, run.Settings, run.Stopping, run.Abort, token), CancellationToken.None);
            run.Runners.Add(new Runner(task, retire));
        }
        run.Concurrency += count;
    }

    private TaskEvent Event(LeasedMessage message, TaskMessage envelope, string kind, string state, string? error = null, string? detail = null) =>
        new(envelope.Id, envelope.Task, kind, state, time.GetUtcNow(), message.Queue, process.Id, message.DeliveryCount, envelope.Retries, error, detail);

    private sealed record Runner(Task Task, CancellationTokenSource Retire);

    private sealed class RunState(ChannelReader<LeasedMessage> buffer, WorkerSlots slots, WorkerOptions settings, string[] queues, CancellationToken stopping, CancellationToken abort)
    {
        public ChannelReader<LeasedMessage> Buffer { get; } = buffer;
        public WorkerSlots Slots { get; } = slots;
        public WorkerOptions Settings { get; } = settings;
        public string[] Queues { get; } = queues;
        public CancellationToken Stopping { get; } = stopping;
        public CancellationToken Abort { get; } = abort;
        public List<Runner> Runners { get; } = [];
        public int Concurrency { get; set; }
        public bool Closed { get; set; }
    }

    /// <summary>A task running now; <see cref="Revoke"/> fires its token, now or as soon as it has one.</summary>
    private sealed class RunningEntry(string id, string task, DateTimeOffset startedAt)
    {
        private readonly Lock _gate = new();
        private CancellationTokenSource? _cancel;
        private volatile bool _revoked;

        public string Id { get; } = id;
        public string Task { get; } = task;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public bool Revoked => _revoked;

        public void Attach(CancellationTokenSource cancel)
        {
            lock (_gate) _cancel = cancel;
            if (_revoked) Cancel(cancel);
        }

        public void Detach()
        {
            lock (_gate) _cancel = null;
        }

        public void Revoke()
        {
            _revoked = true;
            CancellationTokenSource? cancel;
            lock (_gate) cancel = _cancel;
            if (cancel is not null) Cancel(cancel);
        }

        private static void Cancel(CancellationTokenSource cancel)
        {
            try
            {
                cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The run ended meanwhile.
            }
            catch (AggregateException)
            {
                // A callback of the task's own threw; the token fired all the same.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker concurrency changed from {Old} to {New}")]
    private partial void LogConcurrencyChanged(int old, int @new);

    [LoggerMessage(Level = LogLevel.Information, Message = "Revoking task {Task} ({TaskId}) while it runs: its cancellation token fires")]
    private partial void LogRevoking(string task, string taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {Task} ({TaskId}) revoked; recorded as REVOKED")]
    private partial void LogRevoked(string task, string taskId);
}

/// <summary>
/// The worker's slots (concurrency + prefetch): a message holds one from its lease until it is settled. They grow
/// and shrink at run time; a shrink takes free slots at once and the rest as held ones come back.
/// </summary>
internal sealed class WorkerSlots(int initial) : IDisposable
{
    private readonly SemaphoreSlim _free = new(initial, int.MaxValue);
    private int _debt;

    public Task WaitAsync(CancellationToken cancellationToken) => _free.WaitAsync(cancellationToken);

    public bool TryTake() => _free.Wait(0);

    /// <summary>Gives back <paramref name="count"/> slots, of which those owed by a shrink are kept.</summary>
    public void Release(int count = 1)
    {
        while (count > 0)
        {
            var debt = Volatile.Read(ref _debt);
            if (debt == 0) break;
            if (Interlocked.CompareExchange(ref _debt, debt - 1, debt) == debt) count--;
        }
        if (count > 0) _free.Release(count);
    }

    public void Grow(int count) => Release(count);

    public void Shrink(int count)
    {
        for (; count > 0 && _free.Wait(0); count--)
        {
        }
        if (count > 0) Interlocked.Add(ref _debt, count);
    }

    public void Dispose() => _free.Dispose();
}
