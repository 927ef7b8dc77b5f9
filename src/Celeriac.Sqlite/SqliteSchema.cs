namespace Celeriac.Sqlite;

/// <summary>
/// The tables, created at first use; <c>PRAGMA user_version</c> holds <see cref="Version"/>.
/// A message row is either <c>ready</c> (in <c>messages_ready</c>, in delivery order) or waiting (in
/// <c>messages_waiting</c>, by <c>visible_at</c>: delayed, released for later, or leased until its lease ends).
/// Each receive first promotes the waiting rows of its queues whose time has come, then takes from the head of the
/// ready index, so its cost does not grow with the number of delayed or leased messages.
/// Versions: 2 added <c>locks</c>, 3 added <c>schedules</c> (beat), 4 added <c>subscriptions</c> (durable event
/// subscriptions) and <c>events</c> (the short log that live event listeners read by <c>seq</c>), 5 added the channel
/// layer's <c>channel_groups</c> (offset counters), <c>channel_history</c>, <c>channel_feed</c> (the short log that
/// each process's channel feed reads by <c>seq</c>) and <c>channel_members</c>, 6 added <c>messages_damaged</c> (see
/// <see cref="Damaged"/>), 7 added the operations store's <c>processes</c> (heartbeats), <c>task_events</c> (each
/// task's story) and <c>recent_tasks</c> (the journal's index: each task's latest event and when its story expires),
/// and <c>dead_letters_id</c> (a dead letter looked up by task id); every statement is
/// <c>IF NOT EXISTS</c>, so an older file is brought up to date by running them all again.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>Schema version written to <c>PRAGMA user_version</c>.</summary>
    public const int Version = 7;

    /// <summary>
    /// A message row no receive could read: SQLite keeps whatever type a writer stored (a column declared INTEGER holds
    /// 'high' when another program wrote that), so a row can carry a text priority, a visible time that never comes
    /// due, a blob body or a number too large for its field. The partial index <c>messages_damaged</c> holds exactly
    /// such rows (none, normally, so it costs nothing to keep), and each receive moves the ones of its queues to the
    /// dead-letter table as <c>corrupt-record</c> before it reads the queue.
    /// </summary>
    public const string Damaged = """
        (typeof(id) <> 'text' OR typeof(body) <> 'text'
         OR typeof(priority) <> 'integer' OR priority NOT BETWEEN -2147483648 AND 2147483647
         OR typeof(visible_at) <> 'integer' OR typeof(ready) <> 'integer' OR typeof(leased) <> 'integer'
         OR typeof(delivery_count) <> 'integer' OR delivery_count NOT BETWEEN 0 AND 2147483646
         OR typeof(enqueued_at) <> 'integer')
        """;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS messages(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL,
            body TEXT NOT NULL,
            visible_at INTEGER NOT NULL,
            ready INTEGER NOT NULL,
            leased INTEGER NOT NULL DEFAULT 0,
            delivery_count INTEGER NOT NULL DEFAULT 0,
            enqueued_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, priority DESC, seq) WHERE ready = 1;
        CREATE INDEX IF NOT EXISTS messages_waiting ON messages(queue, visible_at) WHERE ready = 0;
        CREATE INDEX IF NOT EXISTS messages_damaged ON messages(queue) WHERE
        """ + Damaged + """
        ;
        CREATE TABLE IF NOT EXISTS dead_letters(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            queue TEXT NOT NULL,
            body TEXT NOT NULL,
            delivery_count INTEGER NOT NULL,
            reason TEXT NOT NULL,
            error_type TEXT,
            error_message TEXT NOT NULL,
            stack_trace TEXT,
            failed_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS dead_letters_queue ON dead_letters(queue);
        CREATE TABLE IF NOT EXISTS idempotency(
            key TEXT PRIMARY KEY,
            message_id TEXT NOT NULL,
            expires_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency(expires_at);
        CREATE TABLE IF NOT EXISTS results(
            id TEXT PRIMARY KEY,
            task TEXT NOT NULL,
            state TEXT NOT NULL,
            result TEXT,
            error_type TEXT,
            error_message TEXT,
            stack_trace TEXT,
            retries INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            expires_at INTEGER) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS results_expires ON results(expires_at);
        CREATE TABLE IF NOT EXISTS locks(
            key TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            expires_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS schedules(
            name TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL,
            last_tick INTEGER,
            last_fired_at INTEGER) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS subscriptions(
            name TEXT PRIMARY KEY,
            pattern TEXT NOT NULL,
            queue TEXT NOT NULL,
            created_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS events(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            published_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS channel_groups(
            name TEXT PRIMARY KEY,
            last_offset INTEGER NOT NULL,
            last_sent_at INTEGER NOT NULL,
            history_until INTEGER) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS channel_groups_history ON channel_groups(history_until) WHERE history_until IS NOT NULL;
        CREATE TABLE IF NOT EXISTS channel_history(
            group_name TEXT NOT NULL,
            group_offset INTEGER NOT NULL,
            body TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            PRIMARY KEY(group_name, group_offset));
        CREATE TABLE IF NOT EXISTS channel_feed(
            seq INTEGER PRIMARY KEY,
            group_name TEXT NOT NULL,
            group_offset INTEGER NOT NULL,
            body TEXT NOT NULL,
            sent_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS channel_members(
            node TEXT NOT NULL,
            group_name TEXT NOT NULL,
            members TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY(node, group_name));
        CREATE INDEX IF NOT EXISTS channel_members_group ON channel_members(group_name, expires_at);
        CREATE INDEX IF NOT EXISTS channel_members_expires ON channel_members(expires_at);
        CREATE INDEX IF NOT EXISTS dead_letters_id ON dead_letters(id, seq);
        CREATE TABLE IF NOT EXISTS processes(
            id TEXT PRIMARY KEY,
            record TEXT NOT NULL,
            expires_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS processes_expires ON processes(expires_at);
        CREATE TABLE IF NOT EXISTS task_events(
            seq INTEGER PRIMARY KEY,
            task_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            record TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS task_events_task ON task_events(task_id, seq);
        CREATE TABLE IF NOT EXISTS recent_tasks(
            task_id TEXT PRIMARY KEY,
            at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            record TEXT NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS recent_tasks_at ON recent_tasks(at, seq);
        CREATE INDEX IF NOT EXISTS recent_tasks_expires ON recent_tasks(expires_at);
        """;

    /// <summary>
    /// The prune of a short log read by <c>seq</c> (<c>events</c>, <c>channel_feed</c>): deletes every row before the
    /// first one whose <paramref name="timeColumn"/> is at or after <c>@cutoff</c>, and every row more than
    /// <paramref name="keepRows"/> behind the newest, but never the newest itself (a rowid table reuses
    /// <c>MAX(seq) + 1</c>, so an emptied log would restart at 1 and readers' cursors would skip the new rows). The
    /// oldest-first scan stops at the first young row, so the cost follows the rows deleted, not the size of the log.
    /// </summary>
    public static string PruneLog(string table, string timeColumn, long keepRows) => $"""
        DELETE FROM {table} WHERE seq < (
            SELECT MAX(COALESCE((SELECT seq FROM {table} WHERE {timeColumn} >= @cutoff ORDER BY seq LIMIT 1), m), m - {keepRows - 1})
            FROM (SELECT MAX(seq) AS m FROM {table}));
        """;
}
