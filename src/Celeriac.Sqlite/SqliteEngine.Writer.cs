using Microsoft.Data.Sqlite;

namespace Celeriac.Sqlite;

/// <summary>
/// The write loop: group commit on the single writer connection. Each write is queued as a <see cref="WriteOp"/>;
/// the loop takes every op that is waiting (up to <see cref="MaxBatch"/>), runs them in one
/// <c>BEGIN IMMEDIATE</c> transaction, commits once and then completes each op. An op that throws fails only itself
/// (multi-statement ops run under a savepoint). When another process holds the write lock past the busy timeout,
/// or SQLite rolls the transaction back, the batch is run again.
/// </summary>
internal sealed partial class SqliteEngine
{
    private const int MaxBatch = 256;
    private const int MaxBusyAttempts = 3;
    private const int CleanupChunk = 2000;
    private static readonly long CleanupEveryMs = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;

    private WriterSession? _writer;
    private long _nextCleanupMs;

    /// <summary>Queues <paramref name="work"/> for the write loop; the task completes after its transaction commits.</summary>
    /// <param name="work">Runs on the writer connection inside the batch's transaction; may run again if the batch is retried.</param>
    /// <param name="state">Passed to <paramref name="work"/>.</param>
    /// <param name="wakesReceivers">Whether the write can make messages visible (waiting receives look again after the commit).</param>
    /// <param name="atomic">Whether <paramref name="work"/> runs several changing statements that must all happen or none.</param>
    /// <param name="cancellationToken">Cancels the op if the loop has not started it.</param>
    public Task<TResult> WriteAsync<TState, TResult>(Func<WriterSession, TState, TResult> work, TState state, bool wakesReceivers, bool atomic, CancellationToken cancellationToken) =>
        Post(new WriteOp<TState, TResult>(work, state, wakesReceivers, atomic, transactional: true, cancellationToken));

    /// <summary>Runs <paramref name="work"/> on the writer connection outside any transaction (for probes).</summary>
    private Task<TResult> ProbeAsync<TResult>(Func<WriterSession, TResult> work) =>
        Post(new WriteOp<Func<WriterSession, TResult>, TResult>(static (w, f) => f(w), work, wakesReceivers: false, atomic: false, transactional: false, CancellationToken.None));

    private Task<TResult> Post<TState, TResult>(WriteOp<TState, TResult> op)
    {
        EnsureStarted();
        if (!_writes.Writer.TryWrite(op)) throw new ObjectDisposedException(nameof(SqliteEngine), "The SQLite store is closed.");
        return op.Task;
    }

    private async Task WriteLoopAsync()
    {
        var writer = _writer!;
        var reader = _writes.Reader;
        var batch = new List<WriteOp>(MaxBatch);
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (batch.Count < MaxBatch && reader.TryRead(out var op))
                {
                    if (op.Transactional) batch.Add(op);
                    else RunAlone(writer, op);
                }
                if (batch.Count > 0)
                {
                    RunBatch(writer, batch);
                    batch.Clear();
                }
                if (NowMs >= _nextCleanupMs) Cleanup(writer);
            }
        }
        finally
        {
            // Anything still queued when the loop ends (it only ends on dispose) fails rather than hangs.
            while (reader.TryRead(out var op)) op.Fail(new ObjectDisposedException(nameof(SqliteEngine), "The SQLite store is closed."));
            writer.Db.Dispose();
        }
    }

    private static void RunAlone(WriterSession writer, WriteOp op)
    {
        try
        {
            op.Execute(writer);
            op.Succeed();
        }
        catch (Exception e)
        {
            op.Fail(e);
        }
    }

    private void RunBatch(WriterSession writer, List<WriteOp> batch)
    {
        for (var attempt = 1; ; attempt++)
        {
            var live = 0;
            foreach (var op in batch)
            {
                if (op.Done) continue;
                if (op.CancellationToken.IsCancellationRequested) op.Cancel();
                else live++;
            }
            if (live == 0) return;

            Exception? retryBecause = null;
            try
            {
                writer.Db.Execute(WriterSession.Begin);
            }
            catch (SqliteException e) when (e.IsBusy() && attempt < MaxBusyAttempts && !_disposed)
            {
                LogBusy(Path, attempt);
                continue;
            }
            catch (Exception e)
            {
                LogBatchFailed(e, Path);
                foreach (var op in batch) op.Fail(e);
                return;
            }

            foreach (var op in batch)
            {
                if (op.Done) continue;
                try
                {
                    if (op.Atomic) writer.Db.Execute(WriterSession.Savepoint);
                    op.Execute(writer);
                    if (op.Atomic) writer.Db.Execute(WriterSession.ReleaseSavepoint);
                    op.Executed = true;
                }
                catch (Exception e)
                {
                    op.Executed = false;
                    if (!writer.InTransaction)
                    {
                        // SQLite rolled the whole transaction back (I/O error, disk full, lock lost): what the earlier
                        // ops did is gone. Run the batch again; the failing op fails unless it was only a busy lock.
                        if (e is not SqliteException s || !s.IsBusy()) op.Fail(e);
                        retryBecause = e;
                        break;
                    }
                    if (op.Atomic) TryRollbackToSavepoint(writer);
                    op.Fail(e);
                }
            }

            if (retryBecause is null)
            {
                try
                {
                    writer.Db.Execute(WriterSession.Commit);
                }
                catch (Exception e)
                {
                    retryBecause = e;
                }
            }

            if (retryBecause is not null)
            {
                TryRollback(writer);
                foreach (var op in batch) op.Executed = false;
                if (attempt < MaxBusyAttempts && !_disposed)
                {
                    LogBusy(Path, attempt);
                    continue;
                }
                LogBatchFailed(retryBecause, Path);
                foreach (var op in batch) op.Fail(retryBecause);
                return;
            }

            var wakes = false;
            foreach (var op in batch)
            {
                if (!op.Executed) continue;
                wakes |= op.WakesReceivers;
                op.Succeed();
            }
            if (wakes) PulseMessages();
            return;
        }
    }

    private static void TryRollback(WriterSession writer)
    {
        if (!writer.InTransaction) return;
        try { writer.Db.Execute(WriterSession.Rollback); }
        catch (SqliteException) { }
    }

    private static void TryRollbackToSavepoint(WriterSession writer)
    {
        try
        {
            writer.Db.Execute(WriterSession.RollbackToSavepoint);
            writer.Db.Execute(WriterSession.ReleaseSavepoint);
        }
        catch (SqliteException) { }
    }

    /// <summary>Deletes expired results and idempotency keys, a chunk at a time, at most once a minute.</summary>
    private void Cleanup(WriterSession writer)
    {
        var now = NowMs;
        _nextCleanupMs = now + CleanupEveryMs;
        try
        {
            writer.Db.Execute(WriterSession.Begin);
            try
            {
                var results = writer.Db.Get(CleanupResults, "@now");
                results.Set(0, now);
                var deleted = results.ExecuteNonQuery();
                var keys = writer.Db.Get(CleanupKeys, "@now");
                keys.Set(0, now);
                deleted = Math.Max(deleted, keys.ExecuteNonQuery());
                writer.Db.Execute(WriterSession.Commit);
                // More left: go again after the next batch rather than holding the lock now.
                if (deleted == CleanupChunk) _nextCleanupMs = now;
            }
            catch
            {
                TryRollback(writer);
                throw;
            }
        }
        catch (SqliteException e)
        {
            LogCleanupFailed(e, Path);
        }
    }

    // The chunk size is written into the SQL (CleanupChunk): SQLite recompiles a statement whenever a LIMIT parameter is bound.
    private const string CleanupResults = "DELETE FROM results WHERE id IN (SELECT id FROM results WHERE expires_at <= @now LIMIT 2000);";
    private const string CleanupKeys = "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE expires_at <= @now LIMIT 2000);";
}

/// <summary>The writer connection and its prepared commands, used only by the write loop.</summary>
internal sealed class WriterSession(CommandCache db, TimeProvider time)
{
    public const string Begin = "BEGIN IMMEDIATE;";
    public const string Commit = "COMMIT;";
    public const string Rollback = "ROLLBACK;";
    public const string Savepoint = "SAVEPOINT op;";
    public const string ReleaseSavepoint = "RELEASE op;";
    public const string RollbackToSavepoint = "ROLLBACK TO op;";

    public CommandCache Db { get; } = db;

    public long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>SQLite's count that changes when another connection commits to the file.</summary>
    public long DataVersion() => (long)Db.Get("PRAGMA data_version;").ExecuteScalar()!;

    /// <summary>Whether a transaction is open (SQLite may roll one back by itself after some errors).</summary>
    public bool InTransaction => SQLitePCL.raw.sqlite3_get_autocommit(Db.Connection.Handle) == 0;
}

/// <summary>One queued write.</summary>
internal abstract class WriteOp(bool wakesReceivers, bool atomic, bool transactional, CancellationToken cancellationToken)
{
    public bool WakesReceivers { get; } = wakesReceivers;
    public bool Atomic { get; } = atomic;
    public bool Transactional { get; } = transactional;
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Completed: succeeded, failed or cancelled.</summary>
    public bool Done { get; protected set; }

    /// <summary>Ran in the current attempt of its batch without error.</summary>
    public bool Executed { get; set; }

    public abstract void Execute(WriterSession writer);
    public abstract void Succeed();
    public abstract void Fail(Exception exception);
    public abstract void Cancel();
}

internal sealed class WriteOp<TState, TResult>(Func<WriterSession, TState, TResult> work, TState state, bool wakesReceivers, bool atomic, bool transactional, CancellationToken cancellationToken)
    : WriteOp(wakesReceivers, atomic, transactional, cancellationToken)
{
    private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TResult? _result;

    public Task<TResult> Task => _completion.Task;

    public override void Execute(WriterSession writer) => _result = work(writer, state);

    public override void Succeed()
    {
        Done = true;
        _completion.TrySetResult(_result!);
    }

    public override void Fail(Exception exception)
    {
        if (Done) return;
        Done = true;
        _completion.TrySetException(exception);
    }

    public override void Cancel()
    {
        Done = true;
        _completion.TrySetCanceled(CancellationToken);
    }
}
