using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Celeriac.Transport;

namespace Celeriac.Sqlite;

/// <summary>
/// Events in the engine's file. Durable subscriptions are rows of <c>subscriptions</c>. A publish is one atomic op of
/// the group-commit write loop: it reads the (small) subscriptions table inside the write transaction, so a
/// subscription committed by any process before the publish runs gets the event, inserts one message per match
/// through the transport's insert path, and appends the event to the <c>events</c> log. After the commit it wakes
/// this process's receivers (when something was queued) and listeners; other processes learn of it through their
/// change monitor (<c>PRAGMA data_version</c>).
/// <para>
/// A live listener starts at the log's current <c>MAX(seq)</c> when <see cref="ListenAsync"/> is called. One feed per
/// store (per process) reads the rows after its cursor in batches on the pooled read connections whenever the engine
/// signals a change, while at least one listener listens, and hands each row to every listener whose start is before
/// it: however many listeners a process has, the log is read once. A listener joining a running feed that has
/// already read past its start gets the rows in between read for it first. The log is pruned now and then (rows older
/// than <see cref="RetainMs"/>, or more than <see cref="RetainRows"/> behind the newest); the newest row is always
/// kept, so <c>seq</c> never goes back and a cursor never skips a new event. A listener more than
/// <see cref="ListenerQueue.Capacity"/> events behind loses the oldest, as the contract allows.
/// </para>
/// </summary>
internal sealed class SqliteEventStore(SqliteEngine engine, ILogger logger) : IEventStore
{
    /// <summary>How long an event stays in the log for listeners that lag behind.</summary>
    internal const long RetainMs = 60_000;

    /// <summary>Most events kept in the log, whatever their age.</summary>
    internal const long RetainRows = 100_000;

    /// <summary>Events a listener reads at a time (written into <see cref="ReadAfter"/>).</summary>
    private const int ListenBatch = 256;

    /// <summary>The log is pruned after this many publishes of this process, or after <see cref="PruneEveryMs"/>.</summary>
    private const int PruneEveryPublishes = 1000;

    private const long PruneEveryMs = 10_000;

    private const string Upsert = """
        INSERT INTO subscriptions(name, pattern, queue, created_at) VALUES(@name, @pattern, @queue, @createdAt)
        ON CONFLICT(name) DO UPDATE SET pattern = excluded.pattern, queue = excluded.queue;
        """;
    private const string Delete = "DELETE FROM subscriptions WHERE name = @name;";
    private const string List = "SELECT name, pattern, queue, created_at FROM subscriptions ORDER BY name;";
    private const string Targets = "SELECT name, pattern, queue FROM subscriptions ORDER BY name;";
    private const string Append = "INSERT INTO events(id, subject, body, published_at) VALUES(@id, @subject, @body, @now);";
    private const string MaxSeq = "SELECT COALESCE(MAX(seq), 0) FROM events;";
    private const string ReadAfter = "SELECT seq, id, subject, body FROM events WHERE seq > @after ORDER BY seq LIMIT 256;";

    /// <summary>Prunes the log to <see cref="RetainMs"/> (the cutoff) and <see cref="RetainRows"/>.</summary>
    internal static readonly string PruneSql = SqliteSchema.PruneLog("events", "published_at", RetainRows);

    private readonly Housekeeping _prune = new(engine, PruneEveryPublishes, PruneEveryMs, static w =>
    {
        var command = w.Db.Get(PruneSql, "@cutoff");
        command.Set(0, w.NowMs - RetainMs);
        return command.ExecuteNonQuery();
    }, atomic: false);

    private readonly Lock _gate = new();
    private Listener[] _listeners = [];
    private Feed? _feed;

    /// <summary>One listener: where it started, and its queue.</summary>
    private sealed class Listener(long after, ILogger logger)
    {
        public long After { get; } = after;

        public Channel<PublishedEvent> Queue { get; } = ListenerQueue.Create(logger);

        public void Post(List<(long Seq, PublishedEvent Event)> batch)
        {
            foreach (var (seq, published) in batch)
            {
                if (seq > After) Queue.Writer.TryWrite(published);
            }
        }
    }

    /// <summary>The running feed: the newest <c>seq</c> it has handed out (under the gate) and how to stop it.</summary>
    private sealed class Feed(long cursor)
    {
        public long Cursor { get; set; } = cursor;

        public CancellationTokenSource Stop { get; } = new();
    }

    public async ValueTask SaveSubscriptionAsync(DurableSubscription subscription, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentException.ThrowIfNullOrEmpty(subscription.Name);
        ArgumentException.ThrowIfNullOrEmpty(subscription.Queue);
        EventSubjects.ValidatePattern(subscription.Pattern);
        await engine.WriteAsync(static (w, s) =>
        {
            var command = w.Db.Get(Upsert, "@name", "@pattern", "@queue", "@createdAt");
            command.Set(0, s.Name);
            command.Set(1, s.Pattern);
            command.Set(2, s.Queue);
            command.Set(3, s.CreatedAt.ToUnixMs());
            return command.ExecuteNonQuery();
        }, subscription, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteSubscriptionAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return await engine.WriteAsync(static (w, name) =>
        {
            var command = w.Db.Get(Delete, "@name");
            command.Set(0, name);
            return command.ExecuteNonQuery() == 1;
        }, name, wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<DurableSubscription>> GetSubscriptionsAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(engine.Read(static (db, _) =>
        {
            var rows = new List<DurableSubscription>();
            using var reader = db.Get(List).ExecuteReader();
            while (reader.Read())
                rows.Add(new DurableSubscription(reader.GetString(0), reader.GetString(1), reader.GetString(2), Db.FromUnixMs(reader.GetInt64(3))));
            return (IReadOnlyList<DurableSubscription>)rows;
        }, 0, cancellationToken));

    public async ValueTask<IReadOnlyList<string>> PublishAsync(PublishedEvent published, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(published);
        ArgumentNullException.ThrowIfNull(published.Id);
        ArgumentNullException.ThrowIfNull(published.Subject);
        ArgumentNullException.ThrowIfNull(published.Body);
        // The wake-ups hang on the write itself, not on this caller: a caller that stops waiting after the op started
        // must not leave a committed event unannounced.
        return await PublishAndWakeAsync(published, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<string>> PublishAndWakeAsync(PublishedEvent published, CancellationToken cancellationToken)
    {
        var names = await engine.WriteAsync(static (w, e) => PublishCore(w, e), published, wakesReceivers: false, atomic: true, cancellationToken)
            .ConfigureAwait(false);
        if (names.Length > 0) engine.PulseMessages();
        engine.PulseEvents();
        _prune.Tick();
        return names;
    }

    private static string[] PublishCore(WriterSession w, PublishedEvent e)
    {
        var now = w.NowMs;
        List<(string Name, string Queue)>? targets = null;
        using (var reader = w.Db.Get(Targets).ExecuteReader())
        {
            while (reader.Read())
            {
                if (EventSubjects.Matches(reader.GetString(1), e.Subject))
                    (targets ??= []).Add((reader.GetString(0), reader.GetString(2)));
            }
        }
        var names = targets is null ? [] : new string[targets.Count];
        for (var i = 0; i < names.Length; i++)
        {
            var (name, queue) = targets![i];
            SqliteTransport.InsertMessage(w, e.Id + ":" + name, queue, priority: 0, e.Body, visibleAtMs: now, nowMs: now);
            names[i] = name;
        }
        var append = w.Db.Get(Append, "@id", "@subject", "@body", "@now");
        append.Set(0, e.Id);
        append.Set(1, e.Subject);
        append.Set(2, e.Body);
        append.Set(3, now);
        append.ExecuteNonQuery();
        return names;
    }

    /// <summary>
    /// The events published after this call (its cursor is the log's newest <c>seq</c> now, not at the first
    /// <c>MoveNextAsync</c>). Ends with an <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires, and with an <see cref="ObjectDisposedException"/> when the store closes.
    /// </summary>
    public IAsyncEnumerable<PublishedEvent> ListenAsync(CancellationToken cancellationToken)
    {
        var after = engine.Read(static (db, _) => (long)db.Get(MaxSeq).ExecuteScalar()!, 0, cancellationToken);
        return ListenAfterAsync(after, cancellationToken);
    }

    private async IAsyncEnumerable<PublishedEvent> ListenAfterAsync(long after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var listener = Join(after, cancellationToken);
        try
        {
            var queue = listener.Queue.Reader;
            while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (queue.TryRead(out var published)) yield return published;
            }
        }
        finally
        {
            Leave(listener);
        }
    }

    /// <summary>Adds a listener starting after <paramref name="after"/>; starts the feed, or catches up with the running one.</summary>
    private Listener Join(long after, CancellationToken cancellationToken)
    {
        var listener = new Listener(after, logger);
        lock (_gate)
        {
            if (_feed is null)
            {
                var feed = _feed = new Feed(after);
                _ = Task.Run(() => RunFeedAsync(feed), CancellationToken.None);
            }
            else
            {
                // The feed may have handed out rows after this listener's start before it joined: read those for it.
                for (var cursor = after; cursor < _feed.Cursor;)
                {
                    var batch = engine.Read(static (db, after) => ReadBatch(db, after), cursor, cancellationToken);
                    if (batch.Count == 0) break;
                    batch.RemoveAll(row => row.Seq > _feed.Cursor);
                    listener.Post(batch);
                    cursor = batch.Count == 0 ? long.MaxValue : batch[^1].Seq;
                }
            }
            _listeners = [.. _listeners, listener];
        }
        return listener;
    }

    private void Leave(Listener listener)
    {
        Feed? stopped = null;
        lock (_gate)
        {
            _listeners = [.. _listeners.Where(l => l != listener)];
            if (_listeners.Length == 0)
            {
                stopped = _feed;
                _feed = null;
            }
        }
        stopped?.Stop.Cancel();
    }

    /// <summary>
    /// Reads the log after the feed's cursor whenever the engine signals a change, and hands each batch to the
    /// listeners; a feed that is no longer the current one hands out nothing more. A failure (the store closing) ends
    /// every listener with it.
    /// </summary>
    private async Task RunFeedAsync(Feed feed)
    {
        // Registered before the first read, so the monitor watches other processes from then on.
        engine.EnterEventWait();
        var cursor = feed.Cursor;
        try
        {
            while (true)
            {
                // Taken before the read: a publish committed during the read completes this signal.
                var changed = engine.EventsChanged;
                var batch = engine.Read(static (db, after) => ReadBatch(db, after), cursor, feed.Stop.Token);
                if (batch.Count > 0)
                {
                    cursor = batch[^1].Seq;
                    lock (_gate)
                    {
                        if (_feed != feed) return;
                        foreach (var listener in _listeners) listener.Post(batch);
                        feed.Cursor = cursor;
                    }
                }
                if (batch.Count == ListenBatch) continue;
                await changed.WaitAsync(feed.Stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (feed.Stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                if (_feed == feed)
                {
                    foreach (var listener in _listeners) listener.Queue.Writer.TryComplete(e);
                    _listeners = [];
                    _feed = null;
                }
            }
        }
        finally
        {
            engine.ExitEventWait();
        }
    }

    private static List<(long Seq, PublishedEvent Event)> ReadBatch(CommandCache db, long after)
    {
        var command = db.Get(ReadAfter, "@after");
        command.Set(0, after);
        var batch = new List<(long, PublishedEvent)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            batch.Add((reader.GetInt64(0), new PublishedEvent(reader.GetString(1), reader.GetString(2), reader.GetString(3))));
        return batch;
    }
}
