using System.Globalization;
using Celeriac.Redis;
using CsCheck;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Celeriac.Transport.Tests;

/// <summary>The in-memory store keeps typed records: what can be damaged there is the body.</summary>
public sealed class InMemoryDamagedRecordTests : DamagedRecordTests
{
    protected override TransportHarness Open(Action<CeleriacBuilder> tasks, Action<IServiceCollection> services) =>
        new(c => { c.UseInMemory(); tasks(c); }, TimeProvider.System, configure: services);

    protected override Gen<Damage> RecordDamages => Gen.Const(new Damage("body not JSON", Placement.Ready, ["malformed"], Body: true));

    protected override Task InjectAsync(IServiceProvider services, string queue, Damage damage) =>
        throw new InvalidOperationException("The in-memory store has no records to damage.");
}

/// <summary>
/// SQLite rows written by another program: a column holding a value of another type (text where a number belongs, a
/// blob body or id, a number too large for its field, a real), in every placement.
/// </summary>
public sealed class SqliteDamagedRecordTests : DamagedRecordTests
{
    private string _path = "";

    protected override TransportHarness Open(Action<CeleriacBuilder> tasks, Action<IServiceCollection> services)
    {
        _path = Fixtures.TempDatabasePath();
        var path = _path;
        return new(c => { c.UseSqlite(path); tasks(c); }, TimeProvider.System, () => Fixtures.DeleteDatabase(path), services);
    }

    private static readonly (string Column, string Value, string[] Reasons)[] Values =
    [
        ("priority", "'high'", ["corrupt-record"]),
        ("priority", "99999999999", ["corrupt-record"]),
        ("priority", "1.5", ["corrupt-record"]),
        ("priority", "X'00FF'", ["corrupt-record"]),
        ("visible_at", "'soon'", ["corrupt-record"]),
        ("visible_at", "2.5", ["corrupt-record"]),
        ("delivery_count", "'x'", ["corrupt-record"]),
        ("delivery_count", "99999999999", ["corrupt-record"]),
        ("delivery_count", "-3", ["corrupt-record"]),
        ("ready", "'yes'", ["corrupt-record"]),
        ("leased", "'no'", ["corrupt-record"]),
        ("enqueued_at", "'yesterday'", ["corrupt-record"]),
        ("body", "X'00FF00FF'", ["corrupt-record"]),
        ("body", "''", ["malformed"]),
        ("body", "'not json at all'", ["malformed"]),
        ("body", "12345", ["malformed"]),
        ("id", "a blob", ["corrupt-record"]),
    ];

    protected override Gen<Damage> RecordDamages =>
        Gen.Select(Gen.Int[0, Values.Length - 1], Gen.Enum<Placement>(), (i, where) =>
            new Damage($"{Values[i].Column} = {Values[i].Value}", where, Values[i].Reasons));

    protected override async Task InjectAsync(IServiceProvider services, string queue, Damage damage)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var row = new Dictionary<string, string>
        {
            ["id"] = Quote(damage.Id),
            ["queue"] = Quote(queue),
            ["priority"] = "0",
            ["body"] = Quote($$"""{"id":"{{damage.Id}}","task":"good","args":[1]}"""),
            ["visible_at"] = (now - 1000).ToString(CultureInfo.InvariantCulture),
            ["ready"] = damage.Where == Placement.Ready ? "1" : "0",
            ["leased"] = damage.Where == Placement.ExpiredLease ? "1" : "0",
            ["delivery_count"] = damage.Where == Placement.ExpiredLease ? "1" : "0",
            ["enqueued_at"] = now.ToString(CultureInfo.InvariantCulture),
        };
        var separator = damage.What.IndexOf(" = ", StringComparison.Ordinal);
        var column = damage.What[..separator];
        // A blob id holds the id's own bytes, so its dead letter (the id cast to text) is still told apart.
        row[column] = column == "id" ? "X'" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(damage.Id)) + "'" : damage.What[(separator + 3)..];
        await using var connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout = 30000; INSERT INTO messages(" + string.Join(", ", row.Keys) + ") VALUES(" + string.Join(", ", row.Values) + ");";
        await command.ExecuteNonQueryAsync();
    }

    private static string Quote(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}

/// <summary>
/// Redis records written by a bug, a partial restore, a hand edit or another program under the prefix: each field of
/// the message hash missing, empty, not a number or too large; the record key of another type; an index entry with no
/// record behind it, or one that is not in the index's format; in every placement.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisDamagedRecordTests(RedisServer redis) : DamagedRecordTests
{
    protected override TransportHarness Open(Action<CeleriacBuilder> tasks, Action<IServiceCollection> services)
    {
        var prefix = redis.NewPrefix();
        return new(c => { c.UseRedis(redis.Configuration, o => o.KeyPrefix = prefix); tasks(c); }, TimeProvider.System, configure: services);
    }

    private static readonly string[] Fields = ["q", "p", "b", "s", "d"];

    /// <summary>Field damages: (mode, value; null removes the field).</summary>
    private static readonly (string Mode, string? Value)[] Modes =
    [
        ("missing", null), ("empty", ""), ("not a number", "high"), ("huge", "1e400"), ("too long", "123456789012345678901"),
    ];

    protected override Gen<Damage> RecordDamages => Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, Fields.Length - 1], Gen.Int[0, Modes.Length - 1], Gen.Enum<Placement>(), (f, m, where) =>
            // Any non-empty queue name is a queue name: only a missing or empty q is damage.
            Fields[f] == "q" && m > 1 ? null : new Damage($"field {Fields[f]} {Modes[m].Mode}", where, Reasons(Fields[f], Modes[m].Mode)))
            .Where(d => d is not null).Select(d => d!)),
        (1, Gen.Select(Gen.OneOf("string", "list"), Gen.Enum<Placement>(), (type, where) =>
            new Damage($"record is a {type}", where, ["corrupt-record"]))),
        (1, Gen.Select(Gen.Enum<Placement>(), where => new Damage("no record behind the entry", where, []))),
        (1, Gen.OneOf(Placement.Ready, Placement.ExpiredLease).Select(where => new Damage("entry not in the index format", where, ["corrupt-record"]))));

    /// <summary>A damaged body field is the worker's to refuse; every other field is the store's record.</summary>
    private static string[] Reasons(string field, string mode) => (field, mode) switch
    {
        ("b", "missing") => ["corrupt-record"],
        ("b", _) => ["malformed"],
        _ => ["corrupt-record"],
    };

    protected override string DeadLetterIdOf(Damage damage) =>
        damage.What == "entry not in the index format" ? "zz" + damage.Id : damage.Id;

    protected override async Task InjectAsync(IServiceProvider services, string queue, Damage damage)
    {
        var connection = services.GetRequiredService<RedisConnection>();
        var db = await connection.DatabaseAsync();
        var t = connection.Keys.Transport;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var seq = ((long)await db.StringIncrementAsync(connection.Keys.Sequence)).ToString("D16", CultureInfo.InvariantCulture);
        var id = damage.Id;
        var record = t + "m:" + id;
        var fields = new Dictionary<string, string?>
        {
            ["q"] = queue, ["p"] = "0", ["b"] = $$"""{"id":"{{id}}","task":"good","args":[1]}""", ["s"] = seq,
            ["d"] = damage.Where == Placement.ExpiredLease ? "1" : "0", ["l"] = damage.Where == Placement.ExpiredLease ? "1" : "0",
            ["e"] = now.ToString(CultureInfo.InvariantCulture),
        };
        if (damage.What.StartsWith("field ", StringComparison.Ordinal))
        {
            var field = damage.What.Substring(6, 1);
            var mode = damage.What[8..];
            fields[field] = Modes.Single(m => m.Mode == mode).Value;
        }
        switch (damage.What)
        {
            case "record is a string":
                await db.StringSetAsync(record, "something else's value");
                break;
            case "record is a list":
                await db.ListRightPushAsync(record, "something else's item");
                break;
            case "no record behind the entry":
            case "entry not in the index format":
                break;
            default:
                await db.HashSetAsync(record, [.. fields.Where(f => f.Value is not null).Select(f => new HashEntry(f.Key, f.Value))]);
                break;
        }
        var member = damage.What == "entry not in the index format" ? "zz" + id : null;
        switch (damage.Where)
        {
            case Placement.Ready:
                await db.SortedSetAddAsync(t + "ready:" + queue, member ?? seq + id, 0);
                break;
            case Placement.DueDelayed:
                await db.SortedSetAddAsync(t + "delayed:" + queue, id, now - 1000);
                break;
            case Placement.ExpiredLease:
                await db.SortedSetAddAsync(t + "leased:" + queue, member ?? seq + ":1:" + id, now - 1000);
                break;
        }
        await db.SetAddAsync(t + "queues", queue);
    }
}
