using Celeriac.Transport;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Key leases as Redis strings (<c>celeriac:lock:&lt;key&gt;</c> = token) with a Redis expiry: acquire is
/// <c>SET key token NX PX lease</c>; renew and release run compare-token scripts, so only the holder can extend or free
/// a lease. Lease ends are measured by the Redis server's clock, the same for every process.
/// </summary>
internal sealed class RedisLockProvider(RedisConnection connection) : ILockProvider
{
    private readonly RedisKeys _keys = connection.Keys;

    public async ValueTask<string?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        var token = Guid.NewGuid().ToString("N");
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        return await db.StringSetAsync(_keys.Lock(key), token, Clamp(lease), When.NotExists).ConfigureAwait(false) ? token : null;
    }

    public async ValueTask<bool> RenewAsync(string key, string token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(token);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.RenewLock.EvaluateAsync(db, [_keys.Lock(key)], [token, (long)Clamp(lease).TotalMilliseconds]).ConfigureAwait(false);
        return (int)result == 1;
    }

    public async ValueTask<bool> ReleaseAsync(string key, string token, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(token);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.ReleaseLock.EvaluateAsync(db, [_keys.Lock(key)], [token]).ConfigureAwait(false);
        return (int)result == 1;
    }

    /// <summary>At least a millisecond (Redis refuses 0), at most a century.</summary>
    private static TimeSpan Clamp(TimeSpan lease) =>
        TimeSpan.FromMilliseconds(Math.Clamp(Math.Ceiling(lease.TotalMilliseconds), 1, TimeSpan.FromDays(36500).TotalMilliseconds));
}
