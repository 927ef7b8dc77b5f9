using System.Collections.Concurrent;


namespace Celeriac.Transport;

/// <summary>
/// Callers waiting for a task id to reach a terminal state. A store completes an id when it writes a terminal
/// state (and may complete all ids when it learns that another process wrote something).
/// </summary>
public sealed class ResultWaiters
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiting = new(StringComparer.Ordinal);

    /// <summary>Whether anyone waits at all (a store can skip cross-process checks when nobody does).</summary>
    public bool Any => !_waiting.IsEmpty;

    /// <summary>Wakes the waiters of <paramref name="id"/>.</summary>
    public void Complete(string id)
    {
        if (_waiting.TryRemove(id, out var signal)) signal.TrySetResult();
    }

    /// <summary>Wakes every waiter, so each checks the store again.</summary>
    public void CompleteAll()
    {
        foreach (var id in _waiting.Keys) Complete(id);
    }

    /// <summary>Reads the record until it is terminal, sleeping on the signal between reads; gives up at <paramref name="timeout"/>.</summary>
    public async ValueTask<TaskResult?> WaitAsync(string id, Func<string, CancellationToken, ValueTask<TaskResult?>> read, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(time);
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var signal = _waiting.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            var result = await read(id, cancellationToken).ConfigureAwait(false);
            if (result is not null && TaskStates.IsTerminal(result.State)) return result;
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero) return result;
            try
            {
                await signal.Task.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return await read(id, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
