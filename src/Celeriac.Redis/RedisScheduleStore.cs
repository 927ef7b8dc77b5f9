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
        local last = redis.call('HGET', KEYS[1], 'tick')
        if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], 'tick', ARGV[1], 'fired', ARGV[2])
        return 1
        """;

    private readonly RedisKey _names = connection.Keys.Transport + "schedules";

    public async ValueTask<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken = default)
    {
        var db = await connection.DatabaseAsync().ConfigureAwait(false);
        var names = (await db.SetMembersAsync(_names).ConfigureAwait(false)).Select(n => n.ToString()).Order(StringComparer.Ordinal).ToList();
        var rows = await Task.WhenAll(names.Select(async name => (name, fields: await db.HashGetAllAsync(Key(name)).ConfigureAwait(false)))).ConfigureAwait(false);
        var schedules = new List<StoredSchedule>(rows.Length);
        foreach (var (name, fields) in rows)
        {
            if (fields.Length == 0) continue; // removed between the two reads
            var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
            schedules.Add(new StoredSchedule(
                name,
                map["def"].ToString(),
                map.GetValueOrDefault("paused") == "1",
                Time(map["updated"])!.Value,
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

    private RedisKey Key(string name) => connection.Keys.Transport + "schedule:" + name;

    private static DateTimeOffset? Time(RedisValue value) =>
        value.IsNullOrEmpty ? null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(value.ToString(), CultureInfo.InvariantCulture));
}
