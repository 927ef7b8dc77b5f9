using Celeriac.Transport;

namespace Celeriac.Sqlite;

/// <summary>
/// Beat schedules in the <c>schedules</c> table: one row per schedule with its definition (JSON), its paused flag,
/// when it last changed, and its last fired tick. Every write is one statement through the group-commit write loop;
/// the tick record is a single conditional <c>UPDATE</c> (<c>last_tick &lt; @tick</c>), so among processes sharing the
/// file exactly one records a given tick. A value another writer left in a row (a time that is not a number in range,
/// a blob) reads as no value and never fails the list, and a last tick that is not a time counts as none, so the next
/// tick recorded repairs it. Reads use the pooled read connections.
/// </summary>
internal sealed class SqliteScheduleStore(SqliteEngine engine) : IScheduleStore
{
    private const string List = "SELECT name, definition, paused, updated_at, last_tick, last_fired_at FROM schedules ORDER BY name;";
    private const string Upsert = """
        INSERT INTO schedules(name, definition, paused, updated_at) VALUES(@name, @definition, 0, @now)
        ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
        WHERE schedules.definition <> excluded.definition;
        """;
    private const string AddOnly = "INSERT INTO schedules(name, definition, paused, updated_at) VALUES(@name, @definition, 0, @now) ON CONFLICT(name) DO NOTHING;";
    private const string ReplaceOnly = """
        UPDATE schedules SET updated_at = CASE WHEN definition <> @definition THEN @now ELSE updated_at END, definition = @definition
        WHERE name = @name;
        """;
    private const string SetPaused = """
        UPDATE schedules SET updated_at = CASE WHEN paused <> @paused THEN @now ELSE updated_at END, paused = @paused
        WHERE name = @name;
        """;
    private const string Remove = "DELETE FROM schedules WHERE name = @name;";
    private const string RecordTick = """
        UPDATE schedules SET last_tick = @tick, last_fired_at = @now
        WHERE name = @name AND (typeof(last_tick) <> 'integer' OR last_tick < @tick OR last_tick > 253402300799999);
        """;

    public ValueTask<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(engine.Read(static (db, _) =>
        {
            var rows = new List<StoredSchedule>();
            using var reader = db.Get(List).ExecuteReader();
            while (reader.Read())
            {
                rows.Add(new StoredSchedule(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.GetInt64(2) != 0,
                    reader.Time(3) ?? DateTimeOffset.UnixEpoch,
                    reader.Time(4),
                    reader.Time(5)));
            }
            return (IReadOnlyList<StoredSchedule>)rows;
        }, 0, cancellationToken));

    public async ValueTask<bool> SaveAsync(string name, string definition, ScheduleSaveMode mode, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(definition);
        var sql = mode switch
        {
            ScheduleSaveMode.Upsert => Upsert,
            ScheduleSaveMode.AddOnly => AddOnly,
            ScheduleSaveMode.ReplaceOnly => ReplaceOnly,
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown save mode."),
        };
        return await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(r.sql, "@name", "@definition", "@now");
            command.Set(0, r.name);
            command.Set(1, r.definition);
            command.Set(2, w.NowMs);
            return command.ExecuteNonQuery() == 1;
        }, (sql, name, definition), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(SetPaused, "@paused", "@now", "@name");
            command.Set(0, r.paused ? 1 : 0);
            command.Set(1, w.NowMs);
            command.Set(2, r.name);
            return command.ExecuteNonQuery() == 1;
        }, (name, paused), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return await engine.WriteAsync(static (w, name) =>
        {
            var command = w.Db.Get(Remove, "@name");
            command.Set(0, name);
            return command.ExecuteNonQuery() == 1;
        }, name, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> TryRecordTickAsync(string name, DateTimeOffset tick, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(RecordTick, "@tick", "@now", "@name");
            command.Set(0, r.tick);
            command.Set(1, w.NowMs);
            command.Set(2, r.name);
            return command.ExecuteNonQuery() == 1;
        }, (name, tick: tick.ToUnixMs()), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
