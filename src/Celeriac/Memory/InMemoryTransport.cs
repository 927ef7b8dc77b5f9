using System.Globalization;
using Celeriac.Transport;

namespace Celeriac.Memory;

/// <summary>
/// An in-process transport: every queue is a sorted set (priority, then arrival) under one lock. A leased or delayed
/// message stays in its set with a later visibility time, which is how leases expire and countdowns come due.
/// Not durable; for tests and single-process tools.
/// </summary>
internal sealed class InMemoryTransport(TimeProvider time) : ITaskTransport
{
    private sealed class Entry
    {
        public required string Id { get; init; }
        public required string Queue { get; init; }
        public required int Priority { get; init; }
        public required long Seq { get; init; }
        public required string Body { get; set; }
        public DateTimeOffset VisibleAt { get; set; }
        public DateTimeOffset EnqueuedAt { get; init; }
        public int DeliveryCount { get; set; }
        public bool Leased { get; set; }
    }

    private static readonly Comparer<Entry> Order = Comparer<Entry>.Create((a, b) =>
        a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Seq.CompareTo(b.Seq));

    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedSet<Entry>> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Id, DateTimeOffset ExpiresAt)> _idempotency = new(StringComparer.Ordinal);
    private readonly List<DeadLetter> _dead = [];
    private long _seq;
    private TaskCompletionSource _changed = NewSignal();

    public ValueTask<string[]> EnqueueAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        var ids = new string[messages.Count];
        var now = time.GetUtcNow();
        lock (_gate)
        {
            for (var i = 0; i < messages.Count; i++)
            {
                var m = messages[i];
                if (m.IdempotencyKey is { } key)
                {
                    if (_idempotency.TryGetValue(key, out var held) && held.ExpiresAt > now)
                    {
                        ids[i] = held.Id;
                        continue;
                    }
                    _idempotency[key] = (m.Id, m.IdempotencyExpiresAt ?? DateTimeOffset.MaxValue);
                }
                var entry = new Entry { Id = m.Id, Queue = m.Queue, Priority = m.Priority, Seq = ++_seq, Body = m.Body, VisibleAt = m.VisibleAt ?? now, EnqueuedAt = now };
                if (_byId.Remove(m.Id, out var old)) QueueOf(old.Queue).Remove(old);
                _byId[m.Id] = entry;
                QueueOf(m.Queue).Add(entry);
                ids[i] = m.Id;
            }
            PulseLocked();
        }
        return ValueTask.FromResult(ids);
    }

    public async ValueTask<IReadOnlyList<LeasedMessage>> ReceiveAsync(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        var deadline = time.GetUtcNow() + maxWait;
        while (true)
        {
            Task changed;
            DateTimeOffset wakeAt;
            lock (_gate)
            {
                var now = time.GetUtcNow();
                var taken = new List<LeasedMessage>();
                var next = DateTimeOffset.MaxValue;
                IEnumerable<Entry> candidates = queues.Count == 1
                    ? _queues.GetValueOrDefault(queues[0]) ?? []
                    : queues.SelectMany(q => _queues.GetValueOrDefault(q) ?? []).Order(Order);
                foreach (var entry in candidates)
                {
                    if (taken.Count == maxMessages) break;
                    if (entry.VisibleAt > now)
                    {
                        if (entry.VisibleAt < next) next = entry.VisibleAt;
                        continue;
                    }
                    entry.Leased = true;
                    entry.DeliveryCount++;
                    entry.VisibleAt = now + lease;
                    taken.Add(new LeasedMessage(entry.Id, entry.Queue, entry.Priority, entry.Body, entry.DeliveryCount, Token(entry)));
                }
                if (taken.Count > 0 || now >= deadline) return taken;
                changed = _changed.Task;
                wakeAt = next < deadline ? next : deadline;
            }
            var delay = wakeAt - time.GetUtcNow();
            if (delay > TimeSpan.Zero)
                await Task.WhenAny(changed, Task.Delay(delay, time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    public ValueTask<bool> AckAsync(LeasedMessage message, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(WithLease(message, e => Remove(e)));

    public ValueTask<IReadOnlyList<LeasedMessage>> RenewAsync(IReadOnlyList<LeasedMessage> messages, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        var lost = messages.Where(m => !WithLease(m, e => e.VisibleAt = time.GetUtcNow() + lease)).ToList();
        return ValueTask.FromResult<IReadOnlyList<LeasedMessage>>(lost);
    }

    public ValueTask<bool> ReleaseAsync(LeasedMessage message, DateTimeOffset? visibleAt, string? newBody, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(WithLease(message, e =>
        {
            e.Leased = false;
            e.VisibleAt = visibleAt ?? time.GetUtcNow();
            if (newBody is not null) e.Body = newBody;
            PulseLocked();
        }));

    public ValueTask<bool> DeadLetterAsync(LeasedMessage message, DeadLetterInfo info, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(WithLease(message, e =>
        {
            Remove(e);
            _dead.Add(new DeadLetter(e.Id, e.Queue, e.Body, e.DeliveryCount, info, time.GetUtcNow()));
        }));

    public ValueTask<IReadOnlyList<QueueStats>> GetQueueStatsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var names = _queues.Keys.Union(_dead.Select(d => d.Queue)).Order(StringComparer.Ordinal);
            IReadOnlyList<QueueStats> stats = [.. names.Select(q =>
            {
                var entries = _queues.GetValueOrDefault(q) ?? [];
                return new QueueStats(q,
                    entries.Count(e => !e.Leased && e.VisibleAt <= now),
                    entries.Count(e => !e.Leased && e.VisibleAt > now),
                    entries.Count(e => e.Leased),
                    _dead.Count(d => d.Queue == q),
                    entries.FirstOrDefault(e => !e.Leased && e.VisibleAt <= now)?.EnqueuedAt);
            })];
            return ValueTask.FromResult(stats);
        }
    }

    public ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. _dead.AsEnumerable().Reverse().Take(limit)]);
    }

    public ValueTask<DeadLetter?> GetDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult(_dead.FindLast(d => d.Id == id));
    }

    public ValueTask<bool> RequeueDeadLetterAsync(string id, string newBody, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(newBody);
        lock (_gate)
        {
            if (_dead.FindLast(d => d.Id == id) is not { } letter) return ValueTask.FromResult(false);
            _dead.RemoveAll(d => d.Id == id);
            var now = time.GetUtcNow();
            var entry = new Entry { Id = id, Queue = letter.Queue, Priority = 0, Seq = ++_seq, Body = newBody, VisibleAt = now, EnqueuedAt = now };
            if (_byId.Remove(id, out var old)) QueueOf(old.Queue).Remove(old);
            _byId[id] = entry;
            QueueOf(letter.Queue).Add(entry);
            PulseLocked();
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<bool> DeleteDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult(_dead.RemoveAll(d => d.Id == id) > 0);
    }

    public ValueTask<string?> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(id, out var e) || e.Leased) return ValueTask.FromResult<string?>(null);
            Remove(e);
            return ValueTask.FromResult<string?>(e.Body);
        }
    }

    public ValueTask<long> PurgeAsync(string queue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(queue, out var entries)) return ValueTask.FromResult(0L);
            var purged = entries.Where(e => !e.Leased).ToList();
            foreach (var e in purged) Remove(e);
            return ValueTask.FromResult((long)purged.Count);
        }
    }

    private bool WithLease(LeasedMessage message, Action<Entry> action)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(message.Id, out var e) || !e.Leased || Token(e) != message.LeaseToken) return false;
            action(e);
            return true;
        }
    }

    private void Remove(Entry e)
    {
        _byId.Remove(e.Id);
        QueueOf(e.Queue).Remove(e);
    }

    private SortedSet<Entry> QueueOf(string queue)
    {
        if (!_queues.TryGetValue(queue, out var set)) _queues[queue] = set = new SortedSet<Entry>(Order);
        return set;
    }

    private static string Token(Entry e) => e.DeliveryCount.ToString(CultureInfo.InvariantCulture);

    private void PulseLocked()
    {
        var previous = _changed;
        _changed = NewSignal();
        previous.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
