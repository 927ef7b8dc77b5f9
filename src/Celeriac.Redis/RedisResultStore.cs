using System.Text.Json;
using Celeriac.Transport;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Task results as JSON strings (<c>celeriac:result:&lt;id&gt;</c>) with a Redis expiry. A terminal write also
/// publishes the task id on the result channel in the same script (concurrent writes share one script call), which wakes the waiters of that id in every process
/// (each process subscribes once, at its first wait); in the writing process they are woken at once. The expiry is
/// also stored in the record and checked against the injected clock on read, so a record past its expiry reads as
/// missing even before Redis drops it.
/// </summary>
internal sealed class RedisResultStore : IResultStore
{
    /// <summary>Most records per batched write.</summary>
    private const int WriteBatch = 256;

    private readonly RedisConnection _connection;
    private readonly RedisKeys _keys;
    private readonly Batcher<Write, bool> _writes;

    public RedisResultStore(RedisConnection connection)
    {
        _connection = connection;
        _keys = connection.Keys;
        _writes = new Batcher<Write, bool>(WriteAsync, WriteBatch, connection.BatchTimeout, TimeProvider.System);
    }

    private readonly record struct Write(RedisKey Key, string Json, long? TtlMs, string? Announce);

    public async ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        var now = _connection.NowMs;
        long? expiresMs = expiresAt?.ToUnixTimeMilliseconds();
        var json = JsonSerializer.Serialize(new StoredResult(result, expiresMs), RedisJsonContext.Default.StoredResult);
        var terminal = TaskStates.IsTerminal(result.State);
        // Concurrent writes (one per finished task) share one script call.
        await _writes.AddAsync(new Write(_keys.Result(result.Id), json, expiresMs is { } e ? Math.Max(1, e - now) : null, terminal ? result.Id : null)).ConfigureAwait(false);
        if (terminal) _connection.ResultWaiters.Complete(result.Id);
    }

    private async Task<bool[]> WriteAsync(IReadOnlyList<Write> writes)
    {
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        if (_connection.IsCluster && writes.Count > 1)
        {
            // Result keys spread over the cluster's slots, and one script may only touch one slot: one call each.
            var calls = new Task<bool[]>[writes.Count];
            for (var i = 0; i < writes.Count; i++) calls[i] = WriteAsync([writes[i]]);
            await Task.WhenAll(calls).ConfigureAwait(false);
            return [.. calls.Select(c => c.Result[0])];
        }
        var keys = new RedisKey[writes.Count];
        var args = new RedisValue[2 + (3 * writes.Count)];
        args[0] = _keys.ResultChannel.ToString();
        args[1] = _connection.IsCluster ? "1" : "0";
        for (var i = 0; i < writes.Count; i++)
        {
            var w = writes[i];
            keys[i] = w.Key;
            args[2 + (3 * i)] = w.Json;
            args[3 + (3 * i)] = w.TtlMs is { } ttl ? ttl : RedisValue.EmptyString;
            args[4 + (3 * i)] = w.Announce ?? RedisValue.EmptyString;
        }
        await RedisScripts.SetResults.EvaluateAsync(db, keys, args).ConfigureAwait(false);
        return new bool[writes.Count];
    }

    public async ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        StoredResult? stored;
        try
        {
            var value = await db.StringGetAsync(_keys.Result(id)).ConfigureAwait(false);
            if (value.IsNull) return null;
            stored = JsonSerializer.Deserialize((string)value!, RedisJsonContext.Default.StoredResult);
        }
        catch (Exception e) when (e is JsonException || e.IsWrongType())
        {
            throw new InvalidDataException($"The stored result of task '{id}' is damaged: {e.Message}", e);
        }
        if (stored is null || (stored.ExpiresAt is { } expires && expires <= _connection.NowMs)) return null;
        return stored.Result;
    }

    public async ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        // Subscribed before the first read, so a write between that read and the wait still wakes this waiter.
        await _connection.SubscribeResultsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        return await _connection.ResultWaiters.WaitAsync(id, GetAsync, timeout, _connection.Time, cancellationToken).ConfigureAwait(false);
    }
}
