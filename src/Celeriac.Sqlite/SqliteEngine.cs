using System.Threading.Channels;
using Celeriac.Transport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Celeriac.Sqlite;

/// <summary>
/// One SQLite database file as seen from this process, shared by <see cref="SqliteTransport"/>,
/// <see cref="SqliteResultStore"/> and the other stores of <c>UseSqlite</c>.
/// <para>
/// Lifecycle: nothing is opened until the first call. That call creates the directory, opens the single writer
/// connection, switches the file to WAL, creates the schema when it is missing, and starts two loops: the write loop
/// (group commit: every write of this process goes through it, many to a transaction) and the change monitor (while
/// someone waits, it notices commits made by other processes and wakes the waiters). Reads use a small pool of
/// read-only connections. <see cref="DisposeAsync"/> stops taking writes, lets the write loop finish what is queued,
/// stops the monitor and closes every connection; a synchronous <see cref="Dispose"/> does the same without
/// waiting (the write loop closes its connection when it ends).
/// </para>
/// </summary>
internal sealed partial class SqliteEngine : IAsyncDisposable, IDisposable
{
    private readonly SqliteOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _connectionString;
    private readonly Lock _startLock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private volatile bool _started;
    private volatile bool _disposed;
    private Task _writeLoop = Task.CompletedTask;
    private Task _monitorLoop = Task.CompletedTask;
    private TaskCompletionSource _messagesChanged = NewSignal();
    private TaskCompletionSource _eventsChanged = NewSignal();
    private TaskCompletionSource _groupsChanged = NewSignal();
    private int _receiveWaiters;

    public SqliteEngine(SqliteOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Path);
        _options = options;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        Path = System.IO.Path.GetFullPath(options.Path);
        var timeoutSeconds = (int)Math.Clamp(Math.Ceiling(options.BusyTimeout.TotalSeconds), 1, int.MaxValue);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            // Microsoft.Data.Sqlite retries a busy statement until this many seconds have passed since it started;
            // SQLite's own busy_timeout (set below) does the waiting, this only stops the library retrying forever.
            DefaultTimeout = timeoutSeconds,
        }.ToString();
    }

    /// <summary>Full path of the database file.</summary>
    public string Path { get; }

    public TimeProvider Time => _time;

    /// <summary>Waiters on results; completed on terminal writes here and on every commit seen from another process.</summary>
    public ResultWaiters ResultWaiters { get; } = new();

    /// <summary>Completes at the next commit that may have made messages visible (here or in another process).</summary>
    public Task MessagesChanged => Volatile.Read(ref _messagesChanged).Task;

    /// <summary>
    /// Completes at the next commit that may have appended events: a publish of this process, any commit seen from
    /// another process (while a listener is registered with <see cref="EnterEventWait"/>), or dispose.
    /// </summary>
    public Task EventsChanged => Volatile.Read(ref _eventsChanged).Task;

    /// <summary>
    /// Completes at the next commit that may have appended group messages: a group send of this process, any commit
    /// seen from another process (while a channel feed is registered with <see cref="EnterGroupWait"/>), or dispose.
    /// </summary>
    public Task GroupsChanged => Volatile.Read(ref _groupsChanged).Task;

    /// <summary>How often the change monitor looks for other processes' commits.</summary>
    public TimeSpan PollInterval => _options.PollInterval;

    public long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Marks one more receive as waiting, so commits pulse <see cref="MessagesChanged"/> and the monitor runs.</summary>
    public void EnterReceiveWait()
    {
        Interlocked.Increment(ref _receiveWaiters);
        EnterWait();
    }

    public void ExitReceiveWait()
    {
        Interlocked.Decrement(ref _receiveWaiters);
        ExitWait();
    }

    /// <summary>Wakes every waiting receive so it looks again.</summary>
    public void PulseMessages(bool force = false)
    {
        if (!force && Volatile.Read(ref _receiveWaiters) == 0) return;
        Interlocked.Exchange(ref _messagesChanged, NewSignal()).TrySetResult();
    }

    /// <summary>Wakes every event listener so it reads the log again.</summary>
    public void PulseEvents() => Interlocked.Exchange(ref _eventsChanged, NewSignal()).TrySetResult();

    /// <summary>Wakes the channel feed so it reads the group messages again.</summary>
    public void PulseGroups() => Interlocked.Exchange(ref _groupsChanged, NewSignal()).TrySetResult();

    /// <summary>Opens the file and starts the loops, once. Throws what opening threw, and tries again on the next call.</summary>
    public void EnsureStarted()
    {
        if (_started) return;
        lock (_startLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started) return;
            var directory = System.IO.Path.GetDirectoryName(Path);
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            var connection = Open(readOnly: false);
            CommandCache? db = null;
            try
            {
                db = new CommandCache(connection);
                Initialize(db);
            }
            catch
            {
                if (db is null) connection.Dispose();
                else db.Dispose();
                throw;
            }
            _writer = new WriterSession(db, _time);
            _nextCleanupMs = NowMs;
            _writeLoop = Task.Run(WriteLoopAsync);
            _monitorLoop = Task.Run(MonitorLoopAsync);
            _started = true;
        }
    }

    private SqliteConnection Open(bool readOnly)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA busy_timeout = {(long)Math.Min(_options.BusyTimeout.TotalMilliseconds, int.MaxValue)}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;"
                + (readOnly
                    ? " PRAGMA query_only = 1;"
                    // The writer touches the same few pages in every commit: a bigger cache and fewer, larger
                    // checkpoints (each copies a hot page once, not once per 1000 frames) cut its I/O.
                    : " PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 4000;");
            pragma.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Switches to WAL and creates the schema when <c>user_version</c> says it is missing.</summary>
    private static void Initialize(CommandCache db)
    {
        using (var wal = db.Connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            var mode = wal.ExecuteScalar() as string;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"SQLite refused WAL mode for this file (journal mode is '{mode}'); Celeriac needs WAL.");
        }
        using var command = db.Connection.CreateCommand();
        command.CommandText = "BEGIN IMMEDIATE;";
        command.ExecuteNonQuery();
        try
        {
            command.CommandText = "PRAGMA user_version;";
            var version = Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            if (version > SqliteSchema.Version)
                throw new InvalidOperationException($"The database was created by a newer Celeriac (schema version {version}; this one knows up to {SqliteSchema.Version}).");
            if (version < SqliteSchema.Version)
            {
                command.CommandText = SqliteSchema.Create + $"\nPRAGMA user_version = {SqliteSchema.Version};";
                command.ExecuteNonQuery();
            }
            command.CommandText = "COMMIT;";
            command.ExecuteNonQuery();
        }
        catch
        {
            command.CommandText = "ROLLBACK;";
            try { command.ExecuteNonQuery(); } catch (SqliteException) { }
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!BeginDispose()) return;
        await _writeLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _monitorLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        EndDispose();
        _stop.Dispose();
    }

    public void Dispose()
    {
        if (!BeginDispose()) return;
        EndDispose();
    }

    private bool BeginDispose()
    {
        lock (_startLock)
        {
            if (_disposed) return false;
            _disposed = true;
        }
        _writes.Writer.TryComplete();
        _stop.Cancel();
        PulseMessages(force: true);
        PulseEvents();
        PulseGroups();
        ResultWaiters.CompleteAll();
        return true;
    }

    private void EndDispose()
    {
        DisposeReaders();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite file {Path} is locked by another process; trying the write batch again (attempt {Attempt})")]
    private partial void LogBusy(string path, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite write batch on {Path} failed")]
    private partial void LogBatchFailed(Exception exception, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite change check on {Path} failed")]
    private partial void LogMonitorFailed(Exception exception, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite cleanup of expired results and idempotency keys on {Path} failed")]
    private partial void LogCleanupFailed(Exception exception, string path);
}
