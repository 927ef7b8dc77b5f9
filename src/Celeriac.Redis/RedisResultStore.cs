using System.Text.Json;
using Celeriac.Transport;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Task results as JSON strings (<c>celeriac:result:&lt;id&gt;</c>) with a Redis expiry. A terminal write also
/// publishes the task id on the result channel in the same script, which wakes the waiters of that id in every process
/// (each process subscribes once, at its first wait); in the writing process they are woken at once. The expiry is
/// also stored in the record and checked against the injected clock on read, so a record past its expiry reads as
/// missing even before Redis drops it.
/// </summary>
internal sealed class RedisResultStore(RedisConnection connection) : IResultStore
{
    private readonly RedisKeys _keys = connection.Keys;
    private readonly RedisValue _channel = (string)connection.Keys.ResultChannel!;

    public async ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        var now = connection.NowMs;
        long? expiresMs = expiresAt?.ToUnixTimeMilliseconds();
        var json = JsonSerializer.Serialize(new StoredResult(result, expiresMs), RedisJsonContext.Default.StoredResult);
        var terminal = TaskStates.IsTerminal(result.State);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(RedisScripts.SetResult, [_keys.Result(result.Id)],
        [
            json,
            expiresMs is { } e ? Math.Max(1, e - now) : RedisValue.EmptyString,
            terminal ? _channel : RedisValue.EmptyString,
            result.Id,
        ]).ConfigureAwait(false);
        if (terminal) connection.ResultWaiters.Complete(result.Id);
    }

    public async ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        var value = await db.StringGetAsync(_keys.Result(id)).ConfigureAwait(false);
        if (value.IsNull) return null;
        var stored = JsonSerializer.Deserialize((string)value!, RedisJsonContext.Default.StoredResult);
        if (stored is null || (stored.ExpiresAt is { } expires && expires <= connection.NowMs)) return null;
        return stored.Result;
    }

    public async ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        // Subscribed before the first read, so a write between that read and the wait still wakes this waiter.
        await connection.SubscribeResultsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ResultWaiters.WaitAsync(id, GetAsync, timeout, connection.Time, cancellationToken).ConfigureAwait(false);
    }
}
