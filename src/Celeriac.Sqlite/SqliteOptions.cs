namespace Celeriac.Sqlite;

/// <summary>
/// Settings of the SQLite transport and result store. Set through <c>UseSqlite(path, o => …)</c>; the values in the
/// <c>Celeriac:Sqlite</c> configuration section, when the host has configuration, are applied first.
/// </summary>
public sealed class SqliteOptions
{
    /// <summary>
    /// Path of the database file, shared by every process that uses the same queues. A relative path is resolved
    /// against the current directory; a missing directory is created. Default <c>celeriac.db</c>.
    /// </summary>
    public string Path { get; set; } = "celeriac.db";

    /// <summary>
    /// How often the file is checked for commits made by other processes while a receive or a result wait is
    /// waiting (one cheap <c>PRAGMA data_version</c> per interval, nothing when nobody waits). Bounds how late a
    /// waiter in this process learns of another process's write. Default 25 ms.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// How long a write waits for another process to release the write lock before it is tried again
    /// (SQLite's <c>busy_timeout</c>); after three such waits the write fails. Default 5 s.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
