using System.Globalization;
using Celeriac.Transport;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Beat schedules as Redis hashes (<c>celeriac:{celeriac}:schedule:&lt;name&gt;</c> with fields <c>def</c>,
/// <c>paused</c>, <c>updated</c>, <c>tick</c>, <c>fired</c>) plus a set of names. Every change is one Lua script, so it
/// is atomic; the tick record compares and sets in one step (<c>tick &lt; T</c>), so of several schedulers that think
/// they lead, exactly one records a given tick. Times come from the client's <see cref="TimeProvider"/>, as in the
/// other stores.
/// </summary>
internal sealed class RedisScheduleStore(RedisConnection connection) : IScheduleStore
{
    private const string Save = """
        local exists = redis.call('EXISTS', KEYS[1]) == 1
        local mode = ARGV[3]
        if exists and redis.call('TYPE', KEYS[1]).ok ~= 'hash' then
          -- a damaged record (another type under this name) is replaced by the definition being saved
          if mode == '2' then return 0 end
          redis.call('DEL', KEYS[1])
          exists = false
        end
        if mode == '1' and exists then return 0 end
        if mode == '2' and not exists then return 0 end
        if not exists then
          redis.call('HSET', KEYS[1], 'def', ARGV[2], 'paused', '0', 'updated', ARGV[4])
          redis.call('SADD', KEYS[2], ARGV[1])
          return 1
        end
        if redis.call('HGET', KEYS[1], 'def') == ARGV[2] then
          if mode == '2' then return 1 end
          return 0
        end
        redis.call('HSET', KEYS[1], 'def', ARGV[2], 'updated', ARGV[4])
        return 1
        """;
    private const string SetPaused = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if redis.call('HGET', KEYS[1], 'paused') ~= ARGV[1] then
          redis.call('HSET', KEYS[1], 'paused', ARGV[1], 'updated', ARGV[2])
        end
        return 1
        """;
    private const string Remove = """
        redis.call('SREM', KEYS[2], ARGV[1])
        return redis.call('DEL', KEYS[1])
        """;
    private const string RecordTick = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
        local last = tonumber(redis.call('HGET', KEYS[1], 'tick'))
        -- a tick that is not a time (not a number, or past year 9999) is damage: recording over it repairs it
        if last and last >= tonumber(ARGV[1]) and last <= 253402300799999 then return 0 end
        redis.call('HSET', KEYS[1], 'tick', ARGV[1], 'fired', ARGV[2])
        return 1
        """;

    private readonly RedisKey _names = connection.Keys.Transport + "schedules";

    public async ValueTask<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken = default)
    {
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        var names = (await db.SetMembersAsync(_names).ConfigureAwait(false)).Select(n => n.ToString()).Order(StringComparer.Ordinal).ToList();
        var rows = await Task.WhenAll(names.Select(async name => (name, fields: await ReadAsync(db, name).ConfigureAwait(false)))).ConfigureAwait(false);
        var schedules = new List<StoredSchedule>(rows.Length);
        foreach (var (name, fields) in rows)
        {
            if (fields is { Length: 0 }) continue; // removed between the two reads
            // A damaged record (not a hash, no definition, a time that is not a number) still lists, with what could be
            // read: an empty definition, which the scheduler logs as invalid and skips, leaves the other schedules firing.
            var map = (fields ?? []).ToDictionary(f => f.Name.ToString(), f => f.Value);
            schedules.Add(new StoredSchedule(
                name,
                map.GetValueOrDefault("def").ToString(),
                map.GetValueOrDefault("paused") == "1",
                Time(map.GetValueOrDefault("updated")) ?? DateTimeOffset.UnixEpoch,
                Time(map.GetValueOrDefault("tick")),
                Time(map.GetValueOrDefault("fired"))));
        }
        return schedules;
    }

    public ValueTask<bool> SaveAsync(string name, string definition, ScheduleSaveMode mode, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(definition);
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown save mode.");
        return RunAsync(Save, name, [name, definition, (int)mode, connection.NowMs]);
    }

    public ValueTask<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return RunAsync(SetPaused, name, [paused ? "1" : "0", connection.NowMs]);
    }

    public ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return RunAsync(Remove, name, [name]);
    }

    public ValueTask<bool> TryRecordTickAsync(string name, DateTimeOffset tick, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return RunAsync(RecordTick, name, [tick.ToUnixTimeMilliseconds(), connection.NowMs]);
    }

    private async ValueTask<bool> RunAsync(string script, string name, RedisValue[] args)
    {
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        return (long)await db.ScriptEvaluateAsync(script, [Key(name), _names], args).ConfigureAwait(false) == 1;
    }

    /// <summary>The fields of a schedule, or <see langword="null"/> when its key holds another type.</summary>
    private async Task<HashEntry[]?> ReadAsync(IDatabase db, string name)
    {
        try
        {
            return await db.HashGetAllAsync(Key(name)).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.IsWrongType())
        {
            return null;
        }
    }

    private RedisKey Key(string name) => connection.Keys.Transport + "schedule:" + name;

    /// <summary>A stored time, or <see langword="null"/> when absent or not a time in range.</summary>
    private static DateTimeOffset? Time(RedisValue value) =>
        long.TryParse(value.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms)
        && ms >= MinMs && ms <= MaxMs ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    private static readonly long MinMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();
}
