using System.Collections.Concurrent;
using Celeriac.Transport;

namespace Celeriac.Memory;

/// <summary>Results in a dictionary; a terminal write completes the waiters of that id at once.</summary>
internal sealed class InMemoryResultStore(TimeProvider time) : IResultStore
{
    private readonly ConcurrentDictionary<string, (TaskResult Result, DateTimeOffset? ExpiresAt)> _results = new(StringComparer.Ordinal);
    private readonly ResultWaiters _waiters = new();

    public ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default)
    {
        _results[result.Id] = (result, expiresAt);
        if (TaskStates.IsTerminal(result.State)) _waiters.Complete(result.Id);
        return ValueTask.CompletedTask;
    }

    public ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!_results.TryGetValue(id, out var entry)) return ValueTask.FromResult<TaskResult?>(null);
        if (entry.ExpiresAt is { } expires && expires <= time.GetUtcNow())
        {
            _results.TryRemove(KeyValuePair.Create(id, entry));
            return ValueTask.FromResult<TaskResult?>(null);
        }
        return ValueTask.FromResult<TaskResult?>(entry.Result);
    }

    public ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        _waiters.WaitAsync(id, GetAsync, timeout, time, cancellationToken);
}
