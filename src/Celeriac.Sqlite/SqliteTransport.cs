using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Celeriac.Transport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Celeriac.Sqlite;

/// <summary>
/// Queues in one SQLite table. A message keeps its row from enqueue to ack: receiving clears <c>ready</c>, sets
/// <c>leased</c>, bumps <c>delivery_count</c> and pushes <c>visible_at</c> to the end of the lease, so a lease that runs
/// out makes the message ready again at its original place (priority, then <c>seq</c>). Delayed messages are waiting
/// rows with a future <c>visible_at</c>. Every change goes through the engine's group-commit write loop; inspection
/// reads use the pooled read connections. A lease token is <c>seq:delivery_count</c>, checked by ack, renew, release
/// and dead-letter.
/// <para>
/// A row that another writer left with a value of the wrong type (see <see cref="SqliteSchema.Damaged"/>) is moved to
/// the dead-letter table as <c>corrupt-record</c> by the next receive of its queue, in the same transaction, and logged
/// once; the rows around it are received as usual.
/// </para>
/// </summary>
internal sealed partial class SqliteTransport(SqliteEngine engine, ILogger logger) : ITaskTransport
{
    /// <summary>Most damaged rows one receive moves to the dead-letter table (the next receive moves the rest).</summary>
    private const int DamagedLimit = 100;

    /// <summary>Most messages one receive leases; a larger request gets this many.</summary>
    private const int MaxReceive = 1000;

    private static readonly ConcurrentDictionary<(int Queues, int Max), (string Promote, string Receive, string NextVisible, string Damaged, string[] Names)> ReceiveSql = new();
    private const string DeleteDamaged = "DELETE FROM messages WHERE seq = @seq;";

    private const string InsertMessageSql = """
        INSERT OR REPLACE INTO messages(id, queue, priority, body, visible_at, ready, leased, delivery_count, enqueued_at)
        VALUES(@id, @queue, @priority, @body, @visibleAt, @visibleAt <= @now, 0, 0, @now);
        """;
    private const string SelectKey = "SELECT message_id, expires_at FROM idempotency WHERE key = @key;";
    private const string UpsertKey = "INSERT OR REPLACE INTO idempotency(key, message_id, expires_at) VALUES(@key, @id, @expiresAt);";
    private const string LeaseCheck = "seq = @seq AND id = @id AND leased = 1 AND delivery_count = @count";
    private const string Ack = "DELETE FROM messages WHERE " + LeaseCheck + ";";
    private const string Renew = "UPDATE messages SET ready = 0, visible_at = @until WHERE " + LeaseCheck + ";";
    private const string Release = "UPDATE messages SET ready = @visibleAt <= @now, leased = 0, visible_at = @visibleAt, body = COALESCE(@body, body) WHERE " + LeaseCheck + ";";
    private const string TakeForDeadLetter = "DELETE FROM messages WHERE " + LeaseCheck + " RETURNING queue, body, delivery_count;";
    private const string InsertDeadLetter = """
        INSERT INTO dead_letters(id, queue, body, delivery_count, reason, error_type, error_message, stack_trace, failed_at)
        VALUES(@id, @queue, @body, @count, @reason, @errorType, @errorMessage, @stackTrace, @now);
        """;
    private const string Purge = "DELETE FROM messages WHERE queue = @queue AND leased = 0;";
    private const string RemoveOne = "DELETE FROM messages WHERE id = @id AND leased = 0 RETURNING body;";
    private const string Stats = """
        SELECT queue,
               SUM(visible_at <= @now),
               SUM(leased = 0 AND visible_at > @now),
               SUM(leased = 1 AND visible_at > @now),
               (SELECT h.enqueued_at FROM messages h WHERE h.queue = m.queue AND h.visible_at <= @now ORDER BY h.priority DESC, h.seq LIMIT 1)
        FROM messages m GROUP BY queue;
        """;
    private const string DeadLetterCounts = "SELECT queue, COUNT(*) FROM dead_letters GROUP BY queue;";
    private const string DeadLetters = """
        SELECT id, queue, body, delivery_count, reason, error_type, error_message, stack_trace, failed_at
        FROM dead_letters ORDER BY seq DESC LIMIT @limit;
        """;

    private const string DeadLetterById = """
        SELECT id, queue, body, delivery_count, reason, error_type, error_message, stack_trace, failed_at
        FROM dead_letters WHERE id = @id ORDER BY seq DESC LIMIT 1;
        """;
    private const string DeadLetterQueue = "SELECT queue FROM dead_letters WHERE id = @id ORDER BY seq DESC LIMIT 1;";
    private const string DeleteDeadLetters = "DELETE FROM dead_letters WHERE id = @id;";

    private readonly record struct ReceiveRequest(IReadOnlyList<string> Queues, int Max, TimeSpan Lease);

    private readonly record struct ReceiveOutcome(List<LeasedMessage> Messages, long? NextVisibleMs, List<(string Id, string Queue, string Why)>? Damaged);

    public async ValueTask<string[]> EnqueueAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) return [];
        var atomic = messages.Count > 1 || messages[0].IdempotencyKey is not null;
        return await engine.WriteAsync(static (w, m) => EnqueueCore(w, m), messages, wakesReceivers: true, atomic, cancellationToken)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string[] EnqueueCore(WriterSession w, IReadOnlyList<OutgoingMessage> messages)
    {
        var now = w.NowMs;
        var ids = new string[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.IdempotencyKey is { } key)
            {
                var select = w.Db.Get(SelectKey, "@key");
                select.Set(0, key);
                string? holder = null;
                using (var reader = select.ExecuteReader())
                {
                    if (reader.Read() && reader.GetInt64(1) > now) holder = reader.GetString(0);
                }
                if (holder is not null)
                {
                    ids[i] = holder;
                    continue;
                }
                var upsert = w.Db.Get(UpsertKey, "@key", "@id", "@expiresAt");
                upsert.Set(0, key);
                upsert.Set(1, m.Id);
                upsert.Set(2, m.IdempotencyExpiresAt?.ToUnixMs() ?? long.MaxValue);
                upsert.ExecuteNonQuery();
            }
            InsertMessage(w, m.Id, m.Queue, m.Priority, m.Body, m.VisibleAt?.ToUnixMs() ?? now, now);
            ids[i] = m.Id;
        }
        return ids;
    }

    /// <summary>
    /// Writes one message row (replacing a message with the same id), ready at once when <paramref name="visibleAtMs"/>
    /// is not after <paramref name="nowMs"/>. The one insert path of enqueue and event fan-out; runs inside the caller's
    /// write transaction, and the caller wakes receivers after the commit.
    /// </summary>
    internal static void InsertMessage(WriterSession w, string id, string queue, int priority, string body, long visibleAtMs, long nowMs)
    {
        var insert = w.Db.Get(InsertMessageSql, "@id", "@queue", "@priority", "@body", "@visibleAt", "@now");
        insert.Set(0, id);
        insert.Set(1, queue);
        insert.Set(2, priority);
        insert.Set(3, body);
        insert.Set(4, visibleAtMs);
        insert.Set(5, nowMs);
        insert.ExecuteNonQuery();
    }

    public async ValueTask<IReadOnlyList<LeasedMessage>> ReceiveAsync(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        (queues, var waitFor) = ReceiveArguments.Check(queues, maxMessages, lease, maxWait);
        var time = engine.Time;
        var deadline = time.GetUtcNow() + waitFor;
        var request = new ReceiveRequest(queues, maxMessages, lease);
        var waiting = waitFor > TimeSpan.Zero;
        // Registered before the first look, so a commit between that look and the wait still wakes this receive.
        if (waiting) engine.EnterReceiveWait();
        try
        {
            while (true)
            {
                var changed = engine.MessagesChanged;
                var outcome = await TakeAsync(request, cancellationToken).ConfigureAwait(false);
                if (outcome.Damaged is { } damaged)
                    foreach (var (id, queue, why) in damaged) LogCorruptRecord(id, queue, why);
                if (outcome.Messages.Count > 0) return outcome.Messages;
                var now = time.GetUtcNow();
                if (now >= deadline) return [];
                var wakeAt = outcome.NextVisibleMs is { } next && Db.FromUnixMs(next) < deadline ? Db.FromUnixMs(next) : deadline;
                var delay = wakeAt - now;
                if (delay < TimeSpan.FromMilliseconds(1)) delay = TimeSpan.FromMilliseconds(1);
                await changed.WaitAsync(delay, time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            if (waiting) engine.ExitReceiveWait();
        }
    }

    private async Task<ReceiveOutcome> TakeAsync(ReceiveRequest request, CancellationToken cancellationToken)
    {
        var take = engine.WriteAsync(static (w, r) => ReceiveCore(w, r), request, wakesReceivers: false, atomic: false, cancellationToken);
        try
        {
            return await take.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !take.IsCompleted)
        {
            // The caller left while the lease was being taken: give back whatever it took, rather than leaving it
            // hidden until the lease runs out.
            _ = take.ContinueWith(static (t, state) =>
            {
                if (t.Result.Messages.Count == 0) return Task.CompletedTask;
                var engine = (SqliteEngine)state!;
                return engine.WriteAsync(static (w, taken) =>
                {
                    foreach (var m in taken) ChangeLease(w, Release, m, w.NowMs, null, null);
                    return true;
                }, t.Result.Messages, wakesReceivers: true, atomic: false, CancellationToken.None);
            }, engine, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default)
                .Unwrap()
                // Best effort: if the store is closing, the leases simply run out.
                .ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }

    private static ReceiveOutcome ReceiveCore(WriterSession w, ReceiveRequest r)
    {
        var sql = SqlFor(r.Queues.Count, Math.Min(r.Max, MaxReceive));
        var now = w.NowMs;
        var until = Later(now, r.Lease);
        var damaged = MoveDamaged(w, sql.Damaged, sql.Names, r.Queues, now);
        var promote = w.Db.Get(sql.Promote, sql.Names.AsSpan(0, r.Queues.Count + 1));
        for (var i = 0; i < r.Queues.Count; i++) promote.Set(i, r.Queues[i]);
        promote.Set(r.Queues.Count, now);
        promote.ExecuteNonQuery();
        var select = w.Db.Get(sql.Receive, sql.Names.AsSpan(0, r.Queues.Count));
        for (var i = 0; i < r.Queues.Count; i++) select.Set(i, r.Queues[i]);
        List<LeasedMessage>? taken = null;
        List<long>? seqs = null;
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                var seq = reader.GetInt64(0);
                var count = reader.GetInt32(5) + 1;
                (seqs ??= new List<long>(Math.Min(r.Max, 64))).Add(seq);
                (taken ??= new List<LeasedMessage>(Math.Min(r.Max, 64))).Add(new LeasedMessage(reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4), count, Token(seq, count)));
            }
        }
        if (taken is not null)
        {
            // Same transaction as the select, and this connection is the only writer: no one else can take them.
            var lease = w.Db.Get(TakeLease, "@seq", "@count", "@until");
            lease.Set(2, until);
            for (var i = 0; i < taken.Count; i++)
            {
                lease.Set(0, seqs![i]);
                lease.Set(1, taken[i].DeliveryCount);
                lease.ExecuteNonQuery();
            }
            return new ReceiveOutcome(taken, null, damaged);
        }
        var next = w.Db.Get(sql.NextVisible, sql.Names.AsSpan(0, r.Queues.Count));
        for (var i = 0; i < r.Queues.Count; i++) next.Set(i, r.Queues[i]);
        var value = next.ExecuteScalar();
        return new ReceiveOutcome([], value is long ms ? ms : null, damaged);
    }

    /// <summary>
    /// Moves the damaged rows of the queues (<see cref="SqliteSchema.Damaged"/>) to the dead-letter table as
    /// <c>corrupt-record</c>, each with what was wrong; returns them for the log, or <see langword="null"/> for none.
    /// </summary>
    private static List<(string Id, string Queue, string Why)>? MoveDamaged(WriterSession w, string sql, string[] names, IReadOnlyList<string> queues, long now)
    {
        var select = w.Db.Get(sql, names.AsSpan(0, queues.Count));
        for (var i = 0; i < queues.Count; i++) select.Set(i, queues[i]);
        List<(long Seq, string Id, string Queue, string Body, int Count, string Why)>? rows = null;
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                var why = new List<string>();
                if (reader.GetString(4) != "text") why.Add($"id is a {reader.GetString(4)}");
                if (reader.GetString(5) != "text") why.Add($"body is a {reader.GetString(5)} of {reader.GetInt64(6)} bytes, not text");
                Whole(why, "priority", reader.GetString(7), int.MinValue, int.MaxValue);
                Whole(why, "visible_at", reader.GetString(8), long.MinValue, long.MaxValue);
                Whole(why, "ready", reader.GetString(9), 0, 1);
                Whole(why, "leased", reader.GetString(10), 0, 1);
                var count = Whole(why, "delivery_count", reader.GetString(11), 0, int.MaxValue - 1);
                Whole(why, "enqueued_at", reader.GetString(12), long.MinValue, long.MaxValue);
                var id = reader.GetString(1);
                var queue = reader.GetString(2);
                (rows ??= []).Add((reader.GetInt64(0), id, queue, reader.GetString(3), (int)(count ?? 0),
                    $"message row {reader.GetInt64(0)} ({id}): {string.Join("; ", why)}"));
            }
        }
        if (rows is null) return null;
        var insert = w.Db.Get(InsertDeadLetter, "@id", "@queue", "@body", "@count", "@reason", "@errorType", "@errorMessage", "@stackTrace", "@now");
        var delete = w.Db.Get(DeleteDamaged, "@seq");
        var info = DeadLetterInfo.CorruptRecord("");
        var moved = new List<(string Id, string Queue, string Why)>(rows.Count);
        foreach (var row in rows)
        {
            insert.Set(0, row.Id);
            insert.Set(1, row.Queue);
            insert.Set(2, row.Body);
            insert.Set(3, row.Count);
            insert.Set(4, info.Reason);
            insert.Set(5, info.ErrorType);
            insert.Set(6, row.Why);
            insert.Set(7, null);
            insert.Set(8, now);
            insert.ExecuteNonQuery();
            delete.Set(0, row.Seq);
            delete.ExecuteNonQuery();
            moved.Add((row.Id, row.Queue, row.Why + "; moved to the dead-letter table as corrupt-record"));
        }
        return moved;
    }

    /// <summary>
    /// Reads a column given as SQLite <c>quote()</c> text as a whole number in [low, high]; adds what is wrong to
    /// <paramref name="why"/> and returns <see langword="null"/> when it is not one.
    /// </summary>
    private static long? Whole(List<string> why, string column, string quoted, long low, long high)
    {
        if (long.TryParse(quoted, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= low && value <= high)
            return value;
        why.Add($"{column} is {(quoted.Length > 40 ? quoted[..40] + "..." : quoted)}, not a whole number from {low} to {high}");
        return null;
    }

    private const string TakeLease = "UPDATE messages SET ready = 0, leased = 1, delivery_count = @count, visible_at = @until WHERE seq = @seq;";

    /// <summary>
    /// The receive statements for <paramref name="queues"/> queues: promote the waiting rows that came due, read the
    /// candidates from the head of <c>messages_ready</c> (named, so the planner never sorts a whole queue; with several
    /// queues each queue's first <paramref name="max"/> are merged), and find the next time a waiting row comes due.
    /// The limit is written into the SQL: SQLite recompiles a statement each time a <c>LIMIT</c> parameter is bound.
    /// A single
    /// <c>UPDATE … WHERE seq IN (SELECT …) RETURNING</c> was measured several times slower than a select plus one
    /// update by primary key per row, which the write transaction makes just as atomic.
    /// </summary>
    private static (string Promote, string Receive, string NextVisible, string Damaged, string[] Names) SqlFor(int queues, int max) =>
        ReceiveSql.GetOrAdd((queues, max), static key =>
        {
            var (n, max) = key;
            var limit = max.ToString(CultureInfo.InvariantCulture);
            var names = Enumerable.Range(0, n).Select(i => "@q" + i.ToString(CultureInfo.InvariantCulture)).Concat(["@now"]).ToArray();
            var inQueues = n == 1 ? "queue = @q0" : $"queue IN ({string.Join(", ", names.Take(n))})";
            var promote = $"UPDATE messages SET ready = 1 WHERE {inQueues} AND ready = 0 AND visible_at <= @now;";
            string Candidates(int i) =>
                "SELECT seq, id, queue, priority, body, delivery_count FROM messages INDEXED BY messages_ready " +
                $"WHERE queue = @q{i.ToString(CultureInfo.InvariantCulture)} AND ready = 1 ORDER BY priority DESC, seq LIMIT {limit}";
            var receive = n == 1
                ? Candidates(0) + ";"
                : "SELECT seq, id, queue, priority, body, delivery_count FROM ("
                    + string.Join(" UNION ALL ", Enumerable.Range(0, n).Select(i => $"SELECT * FROM ({Candidates(i)})"))
                    + $") ORDER BY priority DESC, seq LIMIT {limit};";
            var next = new StringBuilder("SELECT MIN(v) FROM (");
            for (var i = 0; i < n; i++)
            {
                if (i > 0) next.Append(" UNION ALL ");
                next.Append(CultureInfo.InvariantCulture, $"SELECT MIN(visible_at) AS v FROM messages WHERE queue = @q{i} AND ready = 0");
            }
            next.Append(");");
            var damaged = "SELECT seq, CAST(id AS TEXT), CAST(queue AS TEXT), CASE typeof(body) WHEN 'text' THEN body ELSE '' END, typeof(id), typeof(body), "
                + "length(CAST(body AS BLOB)), quote(priority), quote(visible_at), quote(ready), quote(leased), quote(delivery_count), quote(enqueued_at) "
                + $"FROM messages INDEXED BY messages_damaged WHERE {inQueues} AND {SqliteSchema.Damaged} LIMIT {DamagedLimit.ToString(CultureInfo.InvariantCulture)};";
            return (promote, receive, next.ToString(), damaged, names);
        });

    public async ValueTask<bool> AckAsync(LeasedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return await engine.WriteAsync(static (w, m) => ChangeLease(w, Ack, m, null, null, null), message, wakesReceivers: false, atomic: false, cancellationToken)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<LeasedMessage>> RenewAsync(IReadOnlyList<LeasedMessage> messages, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        if (messages.Count == 0) return [];
        return await engine.WriteAsync(static (w, r) =>
        {
            var until = Later(w.NowMs, r.lease);
            var lost = new List<LeasedMessage>();
            foreach (var m in r.messages)
                if (!ChangeLease(w, Renew, m, until, null, null)) lost.Add(m);
            return (IReadOnlyList<LeasedMessage>)lost;
        }, (messages, lease), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ReleaseAsync(LeasedMessage message, DateTimeOffset? visibleAt, string? newBody, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return await engine.WriteAsync(static (w, r) => ChangeLease(w, Release, r.message, r.visibleAt?.ToUnixMs() ?? w.NowMs, r.newBody, null),
            (message, visibleAt, newBody), wakesReceivers: true, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeadLetterAsync(LeasedMessage message, DeadLetterInfo info, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(info);
        return await engine.WriteAsync(static (w, r) => ChangeLease(w, TakeForDeadLetter, r.message, null, null, r.info),
            (message, info), wakesReceivers: false, atomic: true, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one lease-checked statement; false when the lease is stale (or the token is not one of ours).</summary>
    private static bool ChangeLease(WriterSession w, string sql, LeasedMessage m, long? time, string? body, DeadLetterInfo? info)
    {
        if (!TryParseToken(m.LeaseToken, out var seq, out var count)) return false;
        SqliteCommand command;
        if (ReferenceEquals(sql, Renew))
        {
            command = w.Db.Get(sql, "@seq", "@id", "@count", "@until");
            command.Set(3, time);
        }
        else if (ReferenceEquals(sql, Release))
        {
            command = w.Db.Get(sql, "@seq", "@id", "@count", "@visibleAt", "@body", "@now");
            command.Set(3, time);
            command.Set(4, body);
            command.Set(5, w.NowMs);
        }
        else
        {
            command = w.Db.Get(sql, "@seq", "@id", "@count");
        }
        command.Set(0, seq);
        command.Set(1, m.Id);
        command.Set(2, count);
        if (info is null) return command.ExecuteNonQuery() == 1;

        string queue, storedBody;
        int deliveries;
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read()) return false;
            queue = reader.GetString(0);
            storedBody = reader.GetString(1);
            deliveries = reader.Count(2);
        }
        var insert = w.Db.Get(InsertDeadLetter, "@id", "@queue", "@body", "@count", "@reason", "@errorType", "@errorMessage", "@stackTrace", "@now");
        insert.Set(0, m.Id);
        insert.Set(1, queue);
        insert.Set(2, storedBody);
        insert.Set(3, deliveries);
        insert.Set(4, info.Reason);
        insert.Set(5, info.ErrorType);
        insert.Set(6, info.ErrorMessage);
        insert.Set(7, info.StackTrace);
        insert.Set(8, w.NowMs);
        insert.ExecuteNonQuery();
        return true;
    }

    public ValueTask<IReadOnlyList<QueueStats>> GetQueueStatsAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(engine.Read(static (db, now) =>
        {
            var counts = new SortedDictionary<string, QueueStats>(StringComparer.Ordinal);
            var stats = db.Get(Stats, "@now");
            stats.Set(0, now);
            using (var reader = stats.ExecuteReader())
            {
                while (reader.Read())
                {
                    var queue = reader.GetString(0);
                    var oldest = reader.Time(4);
                    counts[queue] = new QueueStats(queue, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), 0, oldest);
                }
            }
            using (var reader = db.Get(DeadLetterCounts).ExecuteReader())
            {
                while (reader.Read())
                {
                    var queue = reader.GetString(0);
                    var dead = reader.GetInt64(1);
                    counts[queue] = counts.TryGetValue(queue, out var s) ? s with { DeadLetters = dead } : new QueueStats(queue, 0, 0, 0, dead);
                }
            }
            return (IReadOnlyList<QueueStats>)[.. counts.Values];
        }, engine.NowMs, cancellationToken));

    public ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return ValueTask.FromResult(engine.Read(static (db, limit) =>
        {
            var command = db.Get(DeadLetters, "@limit");
            command.Set(0, limit);
            var list = new List<DeadLetter>();
            using var reader = command.ExecuteReader();
            while (reader.Read()) list.Add(ReadDeadLetter(reader));
            return (IReadOnlyList<DeadLetter>)list;
        }, limit, cancellationToken));
    }

    private static DeadLetter ReadDeadLetter(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.Count(3),
            new DeadLetterInfo(reader.GetString(4), reader.NullableString(5), reader.GetString(6), reader.NullableString(7)),
            reader.Time(8) ?? DateTimeOffset.UnixEpoch);

    public ValueTask<DeadLetter?> GetDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return ValueTask.FromResult(engine.Read(static (db, id) =>
        {
            var command = db.Get(DeadLetterById, "@id");
            command.Set(0, id);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadDeadLetter(reader) : null;
        }, id, cancellationToken));
    }

    public async ValueTask<bool> RequeueDeadLetterAsync(string id, string newBody, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(newBody);
        return await engine.WriteAsync(static (w, r) =>
        {
            var select = w.Db.Get(DeadLetterQueue, "@id");
            select.Set(0, r.id);
            if (select.ExecuteScalar() is not string queue) return false;
            var delete = w.Db.Get(DeleteDeadLetters, "@id");
            delete.Set(0, r.id);
            delete.ExecuteNonQuery();
            var now = w.NowMs;
            InsertMessage(w, r.id, queue, 0, r.newBody, now, now);
            return true;
        }, (id, newBody), wakesReceivers: true, atomic: true, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return await engine.WriteAsync(static (w, i) =>
        {
            var command = w.Db.Get(DeleteDeadLetters, "@id");
            command.Set(0, i);
            return command.ExecuteNonQuery() > 0;
        }, id, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long> PurgeAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        return await engine.WriteAsync(static (w, q) =>
        {
            var command = w.Db.Get(Purge, "@queue");
            command.Set(0, q);
            return (long)command.ExecuteNonQuery();
        }, queue, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<string?> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return await engine.WriteAsync(static (w, i) =>
        {
            var command = w.Db.Get(RemoveOne, "@id");
            command.Set(0, i);
            return command.ExecuteScalar() as string;
        }, id, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary><paramref name="now"/> plus <paramref name="span"/> in Unix milliseconds, capped at a century.</summary>
    private static long Later(long now, TimeSpan span) =>
        now + (long)Math.Min(span.TotalMilliseconds, TimeSpan.FromDays(36500).TotalMilliseconds);

    private static string Token(long seq, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{seq}:{count}");

    private static bool TryParseToken(string? token, out long seq, out int count)
    {
        seq = 0;
        count = 0;
        if (token is null) return false;
        var colon = token.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && long.TryParse(token.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out seq)
            && int.TryParse(token.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out count);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Damaged record of message {MessageId} in queue {Queue}: {Why}")]
    private partial void LogCorruptRecord(string messageId, string queue, string why);
}
