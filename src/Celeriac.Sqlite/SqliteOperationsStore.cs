using Celeriac.Transport;

namespace Celeriac.Sqlite;

/// <summary>
/// Heartbeats and the task journal in the engine's file. <c>processes</c> holds one row per live process with the Unix
/// ms its heartbeat runs out; <c>task_events</c> holds every event of every journalled task (read by task, in
/// <c>seq</c> order) and <c>recent_tasks</c> one row per task: its latest event, when that happened (<c>at</c>, the
/// order of the recent index, ties broken by <c>seq</c>) and when its story runs out. An appended batch is one atomic
/// op of the group-commit write loop: it drops the story of each of its tasks that is no longer live (so a late event
/// of an expired task starts a new story), appends, and trims the index to <c>maxRecent</c> live tasks, the least
/// recently active (and their events) first. Reads filter on <c>expires_at</c> with the injected clock, so an expired
/// row is invisible at once; the rows themselves are deleted by a <see cref="Housekeeping"/> op now and then.
/// </summary>
internal sealed class SqliteOperationsStore : IOperationsStore
{
    private const string PutProcess = """
        INSERT INTO processes(id, record, expires_at) VALUES(@id, @record, @expiresAt)
        ON CONFLICT(id) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at;
        """;
    private const string RemoveProcess = "DELETE FROM processes WHERE id = @id;";
    private const string ListProcesses = "SELECT record FROM processes WHERE expires_at > @now;";

    /// <summary>Forgets a task's story unless it is live (expired, or events left without an index row).</summary>
    private const string ResetEvents = """
        DELETE FROM task_events WHERE task_id = @id
        AND NOT EXISTS (SELECT 1 FROM recent_tasks WHERE task_id = @id AND expires_at > @now);
        """;
    private const string ResetTask = "DELETE FROM recent_tasks WHERE task_id = @id AND expires_at <= @now;";
    private const string AppendEvent = "INSERT INTO task_events(task_id, at, record) VALUES(@id, @at, @record);";
    private const string UpsertTask = """
        INSERT INTO recent_tasks(task_id, at, seq, expires_at, record) VALUES(@id, @at, last_insert_rowid(), @expiresAt, @record)
        ON CONFLICT(task_id) DO UPDATE SET at = excluded.at, seq = excluded.seq, expires_at = excluded.expires_at, record = excluded.record;
        """;
    private const string CountLive = "SELECT COUNT(*) FROM recent_tasks WHERE expires_at > @now;";
    private const string EvictEvents = """
        DELETE FROM task_events WHERE task_id IN
            (SELECT task_id FROM recent_tasks WHERE expires_at > @now ORDER BY at, seq LIMIT @count);
        """;
    private const string EvictTasks = """
        DELETE FROM recent_tasks WHERE task_id IN
            (SELECT task_id FROM recent_tasks WHERE expires_at > @now ORDER BY at, seq LIMIT @count);
        """;
    private const string Story = """
        SELECT record FROM task_events WHERE task_id = @id
        AND EXISTS (SELECT 1 FROM recent_tasks WHERE task_id = @id AND expires_at > @now)
        ORDER BY seq;
        """;
    private const string Recent = "SELECT record FROM recent_tasks WHERE expires_at > @now ORDER BY at DESC, seq DESC;";

    // The prune deletes at most 2000 expired rows per table and op (written into the SQL), so it never holds the lock long.
    private const string PruneProcesses = "DELETE FROM processes WHERE id IN (SELECT id FROM processes WHERE expires_at <= @now LIMIT 2000);";
    private const string PruneEvents = """
        DELETE FROM task_events WHERE task_id IN (SELECT task_id FROM recent_tasks WHERE expires_at <= @now LIMIT 2000);
        """;
    private const string PruneTasks = "DELETE FROM recent_tasks WHERE task_id IN (SELECT task_id FROM recent_tasks WHERE expires_at <= @now LIMIT 2000);";

    private readonly SqliteEngine _engine;
    private readonly Housekeeping _prune;

    public SqliteOperationsStore(SqliteEngine engine)
    {
        _engine = engine;
        _prune = new Housekeeping(engine, everyCount: 200, everyMs: 30_000, Prune, atomic: true);
    }

    public async ValueTask PutProcessAsync(string processId, string record, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(processId);
        ArgumentNullException.ThrowIfNull(record);
        await _engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(PutProcess, "@id", "@record", "@expiresAt");
            command.Set(0, r.processId);
            command.Set(1, r.record);
            command.Set(2, Until(w.NowMs, r.timeToLive));
            return command.ExecuteNonQuery();
        }, (processId, record, timeToLive), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        _prune.Tick();
    }

    public async ValueTask RemoveProcessAsync(string processId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(processId);
        await _engine.WriteAsync(static (w, id) =>
        {
            var command = w.Db.Get(RemoveProcess, "@id");
            command.Set(0, id);
            return command.ExecuteNonQuery();
        }, processId, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<string>> GetProcessesAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_engine.Read(static (db, now) =>
        {
            var command = db.Get(ListProcesses, "@now");
            command.Set(0, now);
            return ReadRecords(command, int.MaxValue);
        }, _engine.NowMs, cancellationToken));

    public async ValueTask AppendTaskEventsAsync(IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecent);
        if (events.Count == 0) return;
        foreach (var e in events)
        {
            ArgumentNullException.ThrowIfNull(e, nameof(events));
            ArgumentException.ThrowIfNullOrEmpty(e.TaskId, nameof(events));
            ArgumentNullException.ThrowIfNull(e.Record, nameof(events));
        }
        await _engine.WriteAsync(static (w, r) => Append(w, r.events, r.keepFor, r.maxRecent), (events, keepFor, maxRecent),
            wakesReceivers: false, atomic: true, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        _prune.Tick();
    }

    public ValueTask<IReadOnlyList<string>> GetTaskEventsAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(taskId);
        return ValueTask.FromResult(_engine.Read(static (db, r) =>
        {
            var command = db.Get(Story, "@id", "@now");
            command.Set(0, r.taskId);
            command.Set(1, r.now);
            return ReadRecords(command, int.MaxValue);
        }, (taskId, now: _engine.NowMs), cancellationToken));
    }

    public ValueTask<IReadOnlyList<string>> GetRecentTasksAsync(int limit, CancellationToken cancellationToken = default)
    {
        if (limit <= 0) return ValueTask.FromResult<IReadOnlyList<string>>([]);
        // No LIMIT in the SQL (a bound LIMIT recompiles the statement): the read stops after `limit` rows of the index.
        return ValueTask.FromResult(_engine.Read(static (db, r) =>
        {
            var command = db.Get(Recent, "@now");
            command.Set(0, r.now);
            return ReadRecords(command, r.limit);
        }, (limit, now: _engine.NowMs), cancellationToken));
    }

    private static int Append(WriterSession w, IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent)
    {
        var now = w.NowMs;
        var expiresAt = Until(now, keepFor);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (!seen.Add(e.TaskId)) continue;
            var resetEvents = w.Db.Get(ResetEvents, "@id", "@now");
            resetEvents.Set(0, e.TaskId);
            resetEvents.Set(1, now);
            resetEvents.ExecuteNonQuery();
            var resetTask = w.Db.Get(ResetTask, "@id", "@now");
            resetTask.Set(0, e.TaskId);
            resetTask.Set(1, now);
            resetTask.ExecuteNonQuery();
        }
        foreach (var e in events)
        {
            var at = e.At.ToUnixMs();
            var append = w.Db.Get(AppendEvent, "@id", "@at", "@record");
            append.Set(0, e.TaskId);
            append.Set(1, at);
            append.Set(2, e.Record);
            append.ExecuteNonQuery();
            var upsert = w.Db.Get(UpsertTask, "@id", "@at", "@expiresAt", "@record");
            upsert.Set(0, e.TaskId);
            upsert.Set(1, at);
            upsert.Set(2, expiresAt);
            upsert.Set(3, e.Record);
            upsert.ExecuteNonQuery();
        }
        var count = w.Db.Get(CountLive, "@now");
        count.Set(0, now);
        var over = (long)count.ExecuteScalar()! - maxRecent;
        if (over <= 0) return events.Count;
        foreach (var sql in (ReadOnlySpan<string>)[EvictEvents, EvictTasks])
        {
            var evict = w.Db.Get(sql, "@now", "@count");
            evict.Set(0, now);
            evict.Set(1, over);
            evict.ExecuteNonQuery();
        }
        return events.Count;
    }

    /// <summary>Deletes expired heartbeats, and expired tasks with their stories, a chunk at a time.</summary>
    private static int Prune(WriterSession w)
    {
        var deleted = 0;
        foreach (var sql in (ReadOnlySpan<string>)[PruneProcesses, PruneEvents, PruneTasks])
        {
            var command = w.Db.Get(sql, "@now");
            command.Set(0, w.NowMs);
            deleted += command.ExecuteNonQuery();
        }
        return deleted;
    }

    /// <summary>Unix ms <paramref name="span"/> after <paramref name="nowMs"/>, held in range.</summary>
    private static long Until(long nowMs, TimeSpan span) =>
        span <= TimeSpan.Zero ? nowMs : nowMs + (long)Math.Min(span.TotalMilliseconds, long.MaxValue / 2.0 - nowMs);

    /// <summary>The text records the command returns, up to <paramref name="limit"/>; a row another writer left without text is skipped.</summary>
    private static IReadOnlyList<string> ReadRecords(Microsoft.Data.Sqlite.SqliteCommand command, int limit)
    {
        var records = new List<string>();
        using var reader = command.ExecuteReader();
        while (records.Count < limit && reader.Read())
        {
            if (reader.IsDBNull(0) || reader.GetFieldType(0) != typeof(string)) continue;
            records.Add(reader.GetString(0));
        }
        return records;
    }
}
