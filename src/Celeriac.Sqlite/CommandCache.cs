using Microsoft.Data.Sqlite;

namespace Celeriac.Sqlite;

/// <summary>
/// Prepared commands of one connection, created on first use and kept for the life of the connection, so each SQL
/// text is compiled once. Keyed by the SQL string instance (the statements are constants or cached strings).
/// Not thread-safe: a connection is used by one thread at a time.
/// </summary>
internal sealed class CommandCache(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(ReferenceEqualityComparer.Instance);

    public SqliteConnection Connection { get; } = connection;

    /// <summary>The prepared command for <paramref name="sql"/>, with its parameters declared in the given order.</summary>
    public SqliteCommand Get(string sql, params ReadOnlySpan<string> parameters)
    {
        if (_commands.TryGetValue(sql, out var command)) return command;
        command = Connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
            command.Parameters.Add(new SqliteParameter(name, DBNull.Value));
        command.Prepare();
        _commands[sql] = command;
        return command;
    }

    /// <summary>Runs a statement that returns nothing; returns the number of rows it changed.</summary>
    public int Execute(string sql) => Get(sql).ExecuteNonQuery();

    public void Dispose()
    {
        foreach (var command in _commands.Values) command.Dispose();
        _commands.Clear();
        Connection.Dispose();
    }
}

/// <summary>Small helpers for parameter values and columns.</summary>
internal static class Db
{
    public static void Set(this SqliteCommand command, int index, object? value) =>
        command.Parameters[index].Value = value ?? DBNull.Value;

    public static string? NullableString(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long ToUnixMs(this DateTimeOffset value) => value.ToUnixTimeMilliseconds();

    public static DateTimeOffset FromUnixMs(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    /// <summary>
    /// A time stored as Unix milliseconds, or <see langword="null"/> when the column is NULL or holds something else
    /// (text, a blob, a number out of range): a damaged time reads as no time instead of failing the whole read.
    /// </summary>
    public static DateTimeOffset? Time(this SqliteDataReader reader, int ordinal) =>
        !reader.IsDBNull(ordinal) && reader.GetFieldType(ordinal) == typeof(long) && reader.GetInt64(ordinal) is var ms && ms >= MinMs && ms <= MaxMs
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;

    /// <summary>A count read as an <see cref="int"/>, held within 0..<see cref="int.MaxValue"/> when another writer stored more.</summary>
    public static int Count(this SqliteDataReader reader, int ordinal) => (int)Math.Clamp(reader.GetInt64(ordinal), 0, int.MaxValue);

    private static readonly long MinMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>Whether SQLite reported that another connection holds a lock (SQLITE_BUSY or SQLITE_LOCKED).</summary>
    public static bool IsBusy(this SqliteException e) => e.SqliteErrorCode is 5 or 6;
}
