using Celeriac.Transport;

namespace Celeriac.Memory;

/// <summary>
/// Heartbeats and the task journal of one process, under one lock. An append first removes the tasks whose time ran
/// out, so a late event of an expired task starts a new story (as the SQLite and Redis stores do).
/// </summary>
internal sealed class InMemoryOperationsStore(TimeProvider time) : IOperationsStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Record, DateTimeOffset ExpiresAt)> _processes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Journal> _tasks = new(StringComparer.Ordinal);

    private sealed class Journal
    {
        public List<string> Events { get; } = [];
        public DateTimeOffset LastAt { get; set; }
        public string Latest { get; set; } = "";
        public DateTimeOffset ExpiresAt { get; set; }
        public long Sequence { get; set; }
    }

    private long _sequence;

    public ValueTask PutProcessAsync(string processId, string record, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        lock (_gate) _processes[processId] = (record, time.GetUtcNow() + timeToLive);
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveProcessAsync(string processId, CancellationToken cancellationToken = default)
    {
        lock (_gate) _processes.Remove(processId);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<string>> GetProcessesAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var expired in _processes.Where(p => p.Value.ExpiresAt <= now).Select(p => p.Key).ToArray())
                _processes.Remove(expired);
            return ValueTask.FromResult<IReadOnlyList<string>>(_processes.Values.Select(p => p.Record).ToArray());
        }
    }

    public ValueTask AppendTaskEventsAsync(IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            RemoveExpired(now);
            foreach (var e in events)
            {
                if (!_tasks.TryGetValue(e.TaskId, out var journal)) _tasks[e.TaskId] = journal = new Journal();
                journal.Events.Add(e.Record);
                journal.Latest = e.Record;
                journal.LastAt = e.At;
                journal.Sequence = ++_sequence;
                journal.ExpiresAt = now + keepFor;
            }
            Trim(now, maxRecent);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<string>> GetTaskEventsAsync(string taskId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>(
                _tasks.TryGetValue(taskId, out var journal) && journal.ExpiresAt > now ? journal.Events.ToArray() : []);
        }
    }

    public ValueTask<IReadOnlyList<string>> GetRecentTasksAsync(int limit, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>(_tasks.Values.Where(j => j.ExpiresAt > now)
                .OrderByDescending(j => j.LastAt).ThenByDescending(j => j.Sequence).Take(limit).Select(j => j.Latest).ToArray());
        }
    }

    private void RemoveExpired(DateTimeOffset now)
    {
        foreach (var expired in _tasks.Where(t => t.Value.ExpiresAt <= now).Select(t => t.Key).ToArray())
            _tasks.Remove(expired);
    }

    private void Trim(DateTimeOffset now, int maxRecent)
    {
        RemoveExpired(now);
        if (_tasks.Count <= maxRecent) return;
        foreach (var oldest in _tasks.OrderBy(t => t.Value.LastAt).ThenBy(t => t.Value.Sequence).Take(_tasks.Count - maxRecent).Select(t => t.Key).ToArray())
            _tasks.Remove(oldest);
    }
}
