using Celeriac.Transport;

namespace Celeriac.Sqlite;

/// <summary>
/// Task results in the <c>results</c> table of the engine's file. Writes go through the group-commit write loop;
/// reads use the pooled read connections. A record past its <c>expires_at</c> reads as missing and is deleted by the
/// writer's periodic cleanup. A terminal write wakes the waiters of that id in this process at once; waiters in other
/// processes wake when their change monitor sees the commit.
/// </summary>
internal sealed class SqliteResultStore(SqliteEngine engine) : IResultStore
{
    private const string Upsert = """
        INSERT OR REPLACE INTO results(id, task, state, result, error_type, error_message, stack_trace, retries, updated_at, expires_at)
        VALUES(@id, @task, @state, @result, @errorType, @errorMessage, @stackTrace, @retries, @updatedAt, @expiresAt);
        """;
    private const string Select = """
        SELECT task, state, result, error_type, error_message, stack_trace, retries, updated_at
        FROM results WHERE id = @id AND (expires_at IS NULL OR expires_at > @now);
        """;

    public async ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        await engine.WriteAsync(static (w, r) =>
        {
            var (result, expiresAt) = r;
            var command = w.Db.Get(Upsert, "@id", "@task", "@state", "@result", "@errorType", "@errorMessage", "@stackTrace", "@retries", "@updatedAt", "@expiresAt");
            command.Set(0, result.Id);
            command.Set(1, result.Task);
            command.Set(2, result.State);
            command.Set(3, result.Result);
            command.Set(4, result.Error?.Type);
            command.Set(5, result.Error?.Message);
            command.Set(6, result.Error?.StackTrace);
            command.Set(7, result.Retries);
            command.Set(8, result.UpdatedAt.ToUnixMs());
            command.Set(9, expiresAt?.ToUnixMs());
            return command.ExecuteNonQuery();
        }, (result, expiresAt), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (TaskStates.IsTerminal(result.State)) engine.ResultWaiters.Complete(result.Id);
    }

    public ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ValueTask.FromResult(engine.Read(static (db, r) =>
        {
            var command = db.Get(Select, "@id", "@now");
            command.Set(0, r.id);
            command.Set(1, r.now);
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return null;
            var errorType = reader.NullableString(3);
            var error = errorType is null ? null : new TaskError(errorType, reader.NullableString(4) ?? string.Empty, reader.NullableString(5));
            if (reader.IsDBNull(6) || reader.GetInt64(6) is < 0 or > int.MaxValue || reader.Time(7) is not { } updatedAt)
                throw new InvalidDataException($"The stored result of task '{r.id}' is damaged: its retries or time is not a number in range.");
            return new TaskResult(r.id, reader.GetString(0), reader.GetString(1), reader.NullableString(2), error, (int)reader.GetInt64(6), updatedAt);
        }, (id, now: engine.NowMs), cancellationToken));
    }

    public async ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        engine.EnterResultWait();
        try
        {
            return await engine.ResultWaiters.WaitAsync(id, GetAsync, timeout, engine.Time, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            engine.ExitResultWait();
        }
    }
}
