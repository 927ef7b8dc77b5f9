using StackExchange.Redis;
using Celeriac.Transport;

namespace Celeriac.Redis;

/// <summary>
/// Heartbeats and the task journal in Redis, under the transport's hash tag (one cluster slot). Heartbeats are a hash
/// (<see cref="RedisKeys.Processes"/>, id → record) and a sorted set of when each runs out
/// (<see cref="RedisKeys.ProcessExpiry"/>). The journal is a list per task (<see cref="RedisKeys.TaskEvents"/>), the
/// recent index (<see cref="RedisKeys.RecentTasks"/>, scored by the latest event's time), a hash of each task's latest
/// event (<see cref="RedisKeys.TaskLatest"/>) and a sorted set of when each story runs out
/// (<see cref="RedisKeys.TaskExpiry"/>). Every write is one Lua script: an appended batch drops expired tasks (with their
/// lists) and the old story of each of its tasks that is no longer live, appends, updates the index and trims it to
/// <c>maxRecent</c>, least recently active first. Expiry is judged with the client's <see cref="TimeProvider"/>, like
/// the other stores; reads leave out what ran out. The keys also get a Redis expiry of at least <c>keepFor</c>, so a
/// journal nobody writes any more goes away by itself. A key holding another type (damage) reads as empty and is
/// replaced by the next write.
/// </summary>
internal sealed class RedisOperationsStore(RedisConnection connection) : IOperationsStore
{
    /// <summary>Lua: <c>fix(key, type)</c> deletes <c>key</c> when it holds another type than <c>type</c>.</summary>
    private const string Fix = """
        local function fix(key, want)
          local t = redis.call('TYPE', key)['ok']
          if t ~= 'none' and t ~= want then redis.call('DEL', key) end
        end

        """;

    /// <summary>KEYS: records, expiry. ARGV: id, record, runs-out-at, now. Drops heartbeats that ran out, then writes this one.</summary>
    private static readonly RedisScript Put = new(Fix + """
        fix(KEYS[1], 'hash')
        fix(KEYS[2], 'zset')
        local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 1000)
        for i = 1, #dead do
          redis.call('HDEL', KEYS[1], dead[i])
          redis.call('ZREM', KEYS[2], dead[i])
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        return 1
        """);

    /// <summary>KEYS: records, expiry. ARGV: id.</summary>
    private static readonly RedisScript Remove = new("""
        redis.pcall('HDEL', KEYS[1], ARGV[1])
        redis.pcall('ZREM', KEYS[2], ARGV[1])
        return 1
        """);

    /// <summary>KEYS: records, expiry. ARGV: now. The records of the heartbeats that have not run out.</summary>
    private static readonly RedisScript Live = new("""
        local live = redis.pcall('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
        if type(live) ~= 'table' or live['err'] then return {} end
        local out = {}
        for i = 1, #live do
          local r = redis.pcall('HGET', KEYS[1], live[i])
          if type(r) == 'string' then out[#out + 1] = r end
        end
        return out
        """);

    /// <summary>
    /// KEYS: recent, latest, expiry. ARGV: transport prefix, now, runs-out-at, max recent, keep (ms), then (task id,
    /// at, record) for each event.
    /// </summary>
    private static readonly RedisScript Append = new(Fix + """
        local T, now, runsOut, max, keep = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
        fix(KEYS[1], 'zset')
        fix(KEYS[2], 'hash')
        fix(KEYS[3], 'zset')
        local function forget(id)
          redis.call('DEL', T .. 'task:' .. id .. ':events')
          redis.call('HDEL', KEYS[2], id)
          redis.call('ZREM', KEYS[1], id)
          redis.call('ZREM', KEYS[3], id)
        end
        local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
        for i = 1, #dead do forget(dead[i]) end
        local seen, lists = {}, {}
        for i = 6, #ARGV, 3 do
          local id = ARGV[i]
          local list = T .. 'task:' .. id .. ':events'
          if not seen[id] then
            seen[id] = true
            lists[#lists + 1] = list
            local e = redis.call('ZSCORE', KEYS[3], id)
            -- not live (expired, or a list left without an index entry): a new story
            if not e or tonumber(e) <= now then forget(id) else fix(list, 'list') end
          end
          redis.call('RPUSH', list, ARGV[i + 2])
          redis.call('HSET', KEYS[2], id, ARGV[i + 2])
          redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
          redis.call('ZADD', KEYS[3], runsOut, id)
        end
        local n = redis.call('ZCARD', KEYS[1])
        if n > max then
          local old = redis.call('ZRANGE', KEYS[1], 0, n - max - 1)
          for i = 1, #old do forget(old[i]) end
        end
        local function extend(key)
          if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
        end
        for i = 1, #lists do
          if redis.call('EXISTS', lists[i]) == 1 then extend(lists[i]) end
        end
        for i = 1, 3 do
          if redis.call('EXISTS', KEYS[i]) == 1 then extend(KEYS[i]) end
        end
        return 1
        """);

    /// <summary>KEYS: expiry, the task's list. ARGV: task id, now. The story, when live.</summary>
    private static readonly RedisScript Story = new("""
        local e = redis.pcall('ZSCORE', KEYS[1], ARGV[1])
        if type(e) ~= 'string' or tonumber(e) <= tonumber(ARGV[2]) then return {} end
        local l = redis.pcall('LRANGE', KEYS[2], 0, -1)
        if type(l) ~= 'table' or l['err'] then return {} end
        return l
        """);

    /// <summary>KEYS: recent, expiry, latest. ARGV: now, limit. The latest events of the most recently active live tasks.</summary>
    private static readonly RedisScript Recent = new("""
        local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
        local out = {}
        local start = 0
        while #out < limit do
          local ids = redis.pcall('ZREVRANGE', KEYS[1], start, start + 199)
          if type(ids) ~= 'table' or ids['err'] or #ids == 0 then break end
          for i = 1, #ids do
            local e = redis.pcall('ZSCORE', KEYS[2], ids[i])
            if type(e) == 'string' and tonumber(e) > now then
              local r = redis.pcall('HGET', KEYS[3], ids[i])
              if type(r) == 'string' then
                out[#out + 1] = r
                if #out >= limit then break end
              end
            end
          end
          start = start + 200
        end
        return out
        """);

    private readonly RedisKeys _keys = connection.Keys;

    public async ValueTask PutProcessAsync(string processId, string record, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(processId);
        ArgumentNullException.ThrowIfNull(record);
        var now = connection.NowMs;
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        await Put.EvaluateAsync(db, [_keys.Processes, _keys.ProcessExpiry], [processId, record, Until(now, timeToLive), now])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask RemoveProcessAsync(string processId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(processId);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        await Remove.EvaluateAsync(db, [_keys.Processes, _keys.ProcessExpiry], [processId]).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<string>> GetProcessesAsync(CancellationToken cancellationToken = default)
    {
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        return Strings(await Live.EvaluateAsync(db, [_keys.Processes, _keys.ProcessExpiry], [connection.NowMs])
            .WaitAsync(cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask AppendTaskEventsAsync(IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecent);
        if (events.Count == 0) return;
        var now = connection.NowMs;
        var until = Until(now, keepFor);
        var args = new RedisValue[5 + (3 * events.Count)];
        args[0] = _keys.Transport;
        args[1] = now;
        args[2] = until;
        args[3] = maxRecent;
        args[4] = Math.Max(1, until - now);
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            ArgumentNullException.ThrowIfNull(e, nameof(events));
            ArgumentException.ThrowIfNullOrEmpty(e.TaskId, nameof(events));
            ArgumentNullException.ThrowIfNull(e.Record, nameof(events));
            args[5 + (3 * i)] = e.TaskId;
            args[6 + (3 * i)] = e.At.ToUnixTimeMilliseconds();
            args[7 + (3 * i)] = e.Record;
        }
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        await Append.EvaluateAsync(db, [_keys.RecentTasks, _keys.TaskLatest, _keys.TaskExpiry], args).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<string>> GetTaskEventsAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(taskId);
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        return Strings(await Story.EvaluateAsync(db, [_keys.TaskExpiry, _keys.TaskEvents(taskId)], [taskId, connection.NowMs])
            .WaitAsync(cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask<IReadOnlyList<string>> GetRecentTasksAsync(int limit, CancellationToken cancellationToken = default)
    {
        if (limit <= 0) return [];
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        return Strings(await Recent.EvaluateAsync(db, [_keys.RecentTasks, _keys.TaskExpiry, _keys.TaskLatest], [connection.NowMs, limit])
            .WaitAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Unix ms <paramref name="span"/> after <paramref name="nowMs"/>, held in range.</summary>
    private static long Until(long nowMs, TimeSpan span) =>
        span <= TimeSpan.Zero ? nowMs : nowMs + (long)Math.Min(span.TotalMilliseconds, 253402300799999 - nowMs);

    private static string[] Strings(RedisResult result) =>
        result.IsNull ? [] : [.. ((RedisResult[])result!).Where(r => !r.IsNull).Select(r => (string)r!)];
}
