namespace Celeriac.Sqlite;

/// <summary>The tables, created at first use; <c>PRAGMA user_version</c> holds <see cref="Version"/>.</summary>
internal static class SqliteSchema
{
    /// <summary>Schema version written to <c>PRAGMA user_version</c>.</summary>
    public const int Version = 1;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS messages(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL,
            body TEXT NOT NULL,
            visible_at INTEGER NOT NULL,
            leased INTEGER NOT NULL DEFAULT 0,
            delivery_count INTEGER NOT NULL DEFAULT 0,
            enqueued_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS messages_order ON messages(queue, priority DESC, seq, visible_at);
        CREATE INDEX IF NOT EXISTS messages_visible ON messages(queue, visible_at);
        CREATE TABLE IF NOT EXISTS dead_letters(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
        """;
}
