using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace Celeriac.Sqlite;

/// <summary>
/// The channel layer in the engine's file, shared by every process on the same machine that opens it.
/// <para>
/// Groups. <c>channel_groups</c> holds each group's last offset (never deleted, so offsets only grow) and until when its
/// history is kept (<see cref="ChannelLayerOptions.HistoryWindow"/> after the last send); <c>channel_history</c> the
/// last <see cref="ChannelLayerOptions.HistoryLength"/> messages of each group. A send is one atomic op of the
/// group-commit write loop: it reads the group's row, takes the next offset, trims the group's history (all of it when
/// the window had run out), upserts the group's row, appends the message to the history and to <c>channel_feed</c>.
/// Write transactions of all processes are serialised (<c>BEGIN IMMEDIATE</c>), so offsets have no gaps and the
/// feed's <c>seq</c> follows every group's offsets in order. A history read is one statement (one snapshot).
/// </para>
/// <para>
/// Delivery. Each layer (one per process) runs at most one feed loop, while it has subscriptions: it reads the feed
/// rows after its cursor on the pooled read connections and hands each to this process's subscribers of that group
/// (a <see cref="ChannelSubscriber"/> each: its own queue and pump). It reads again when this process sends (at once,
/// after the commit) and when the engine's change monitor sees another process commit (<c>PRAGMA data_version</c>,
/// every <see cref="SqliteOptions.PollInterval"/>). A new subscription starts at the feed's newest <c>seq</c>, read
/// under the same lock that hands rows out, so it gets exactly the messages committed after that. The feed is pruned
/// now and then by senders (rows older than <see cref="FeedRetainMs"/>, or more than <see cref="FeedRetainRows"/>
/// behind the newest, which is always kept so <c>seq</c> never goes back); a process further behind than that misses
/// what was pruned (logged): its consumers see the gap in offsets and resume from the history.
/// </para>
/// <para>
/// Membership. <c>channel_members</c> has one row per node and group (the members as a JSON array) with the report's
/// expiry; a report replaces all of its node's rows and deletes every expired row. Reads skip expired rows.
/// </para>
/// </summary>
internal sealed partial class SqliteChannelLayer : IChannelLayer, IAsyncDisposable, IDisposable
{
    /// <summary>How long a message stays in the feed for processes that lag behind.</summary>
    internal const long FeedRetainMs = 60_000;

    /// <summary>Most messages kept in the feed, whatever their age.</summary>
    internal const long FeedRetainRows = 10_000;

    /// <summary>Feed rows read at a time (written into <see cref="ReadFeed"/>).</summary>
    private const int FeedBatch = 256;

    /// <summary>The feed is pruned after this many sends of this process, or after <see cref="PruneEveryMs"/>.</summary>
    private const int PruneEverySends = 1000;

    private const long PruneEveryMs = 10_000;

    private const string GroupRow = "SELECT last_offset, history_until FROM channel_groups WHERE name = @group;";
    private const string TrimHistory = "DELETE FROM channel_history WHERE group_name = @group AND group_offset <= @upTo;";
    private const string UpsertGroup = """
        INSERT INTO channel_groups(name, last_offset, last_sent_at, history_until) VALUES(@group, @offset, @now, @until)
        ON CONFLICT(name) DO UPDATE SET last_offset = excluded.last_offset, last_sent_at = excluded.last_sent_at, history_until = excluded.history_until;
        """;
    private const string AppendHistory = "INSERT INTO channel_history(group_name, group_offset, body, sent_at) VALUES(@group, @offset, @body, @now);";
    private const string AppendFeed = "INSERT INTO channel_feed(group_name, group_offset, body, sent_at) VALUES(@group, @offset, @body, @now);";

    // The group's last offset and its kept messages after @after, in one statement (one snapshot); no row: never sent to.
    private const string ReadHistory = """
        SELECT g.last_offset, h.group_offset, h.body, h.sent_at
        FROM channel_groups g LEFT JOIN channel_history h ON h.group_name = g.name AND h.group_offset > @after AND g.history_until >= @now
        WHERE g.name = @group ORDER BY h.group_offset;
        """;

    private const string FeedMax = "SELECT COALESCE(MAX(seq), 0) FROM channel_feed;";
    private const string ReadFeed = "SELECT seq, group_name, group_offset, body, sent_at FROM channel_feed WHERE seq > @after ORDER BY seq LIMIT 256;";

    private const string DeleteNode = "DELETE FROM channel_members WHERE node = @node;";
    private const string InsertMembers = "INSERT INTO channel_members(node, group_name, members, expires_at) VALUES(@node, @group, @members, @expires);";
    private const string DeleteExpiredMembers = "DELETE FROM channel_members WHERE expires_at <= @now;";
    private const string ReadMembers = "SELECT members FROM channel_members WHERE group_name = @group AND expires_at > @now;";

    /// <summary>Prunes the feed to <see cref="FeedRetainMs"/> (the cutoff) and <see cref="FeedRetainRows"/>.</summary>
    internal static readonly string PruneFeed = SqliteSchema.PruneLog("channel_feed", "sent_at", FeedRetainRows);
    internal const string PruneHistory = "DELETE FROM channel_history WHERE group_name IN (SELECT name FROM channel_groups WHERE history_until < @now);";
    private const string ClearHistoryUntil = "UPDATE channel_groups SET history_until = NULL WHERE history_until < @now;";

    private readonly SqliteEngine _engine;
    private readonly ChannelLayerOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ChannelSubscriber[]> _subscribers = new(StringComparer.Ordinal);

    /// <summary>Each subscriber gets the feed rows after this seq (the feed's newest when it subscribed).</summary>
    private readonly Dictionary<ChannelSubscriber, long> _starts = new(ReferenceEqualityComparer.Instance);
    private Feed? _feed;
    private bool _disposed;
    private readonly Housekeeping _prune;

    public SqliteChannelLayer(SqliteEngine engine, ChannelLayerOptions options, ILogger logger)
    {
        _engine = engine;
        _options = options;
        _logger = logger;
        _prune = new Housekeeping(engine, PruneEverySends, PruneEveryMs, Prune, atomic: true);
    }

    public async ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default)
    {
        var (element, type) = ChannelGroups.Prepare(group, message, _options.MaxMessageBytes);
        cancellationToken.ThrowIfCancellationRequested();
        var windowMs = _options.HistoryWindow <= TimeSpan.Zero ? 0 : Math.Max(1L, (long)Math.Min(_options.HistoryWindow.TotalMilliseconds, 1e15));
        var send = new Send(group, element.GetRawText(), _engine.NowMs, Math.Max(0, _options.HistoryLength), windowMs);
        // The wake-up hangs on the write itself, not on this caller (as the event store's publish).
        var offset = await SendAndWakeAsync(send, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new GroupMessage(group, offset, type, element, Db.FromUnixMs(send.SentAt));
    }

    private async Task<long> SendAndWakeAsync(Send send, CancellationToken cancellationToken)
    {
        var offset = await _engine.WriteAsync(static (w, s) => SendCore(w, s), send, wakesReceivers: false, atomic: true, cancellationToken)
            .ConfigureAwait(false);
        _engine.PulseGroups();
        _prune.Tick();
        return offset;
    }

    private sealed record Send(string Group, string Body, long SentAt, int Keep, long WindowMs)
    {
        public bool KeepsHistory => Keep > 0 && WindowMs > 0;
    }

    private static long SendCore(WriterSession w, Send s)
    {
        var read = w.Db.Get(GroupRow, "@group");
        read.Set(0, s.Group);
        long last = 0;
        long? until = null;
        using (var reader = read.ExecuteReader())
        {
            if (reader.Read())
            {
                last = reader.GetInt64(0);
                until = reader.IsDBNull(1) ? null : reader.GetInt64(1);
            }
        }
        var offset = last + 1;
        if (until is { } kept)
        {
            // A window that ran out (or no history kept now) empties the history; otherwise it keeps the last n.
            var trim = w.Db.Get(TrimHistory, "@group", "@upTo");
            trim.Set(0, s.Group);
            trim.Set(1, kept < s.SentAt || !s.KeepsHistory ? last : offset - s.Keep);
            trim.ExecuteNonQuery();
        }
        var upsert = w.Db.Get(UpsertGroup, "@group", "@offset", "@now", "@until");
        upsert.Set(0, s.Group);
        upsert.Set(1, offset);
        upsert.Set(2, s.SentAt);
        upsert.Set(3, s.KeepsHistory ? s.SentAt + s.WindowMs : null);
        upsert.ExecuteNonQuery();
        if (s.KeepsHistory) Append(w, AppendHistory, s, offset);
        Append(w, AppendFeed, s, offset);
        return offset;
    }

    private static void Append(WriterSession w, string sql, Send s, long offset)
    {
        var append = w.Db.Get(sql, "@group", "@offset", "@body", "@now");
        append.Set(0, s.Group);
        append.Set(1, offset);
        append.Set(2, s.Body);
        append.Set(3, s.SentAt);
        append.ExecuteNonQuery();
    }

    public ValueTask<GroupHistory> ReadHistoryAsync(string group, long afterOffset, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        var (last, kept) = _engine.Read(static (db, q) =>
        {
            var command = db.Get(ReadHistory, "@group", "@after", "@now");
            command.Set(0, q.Group);
            command.Set(1, q.After);
            command.Set(2, q.Now);
            long last = 0;
            var kept = new List<(long Offset, string Body, long SentAt)>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                last = reader.GetInt64(0);
                if (!reader.IsDBNull(1)) kept.Add((reader.GetInt64(1), reader.GetString(2), reader.GetInt64(3)));
            }
            return (last, kept);
        }, (Group: group, After: Math.Max(afterOffset, -1), Now: _engine.NowMs), cancellationToken);
        var messages = new List<GroupMessage>(kept.Count);
        foreach (var (offset, body, sentAt) in kept)
        {
            if (TryParse(group, offset, body, sentAt, out var m)) messages.Add(m);
            else LogMalformed(group, offset);
        }
        return ValueTask.FromResult(ChannelGroups.Slice(messages, afterOffset, last));
    }

    public ValueTask<IAsyncDisposable> SubscribeAsync(string group, Func<GroupMessage, ValueTask> onMessage, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        ArgumentNullException.ThrowIfNull(onMessage);
        cancellationToken.ThrowIfCancellationRequested();
        _engine.EnsureStarted();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Read under the gate that hands feed rows out: none after this seq has been handed out yet.
            var newest = _engine.Read(static (db, _) => (long)db.Get(FeedMax).ExecuteScalar()!, 0, cancellationToken);
            if (_feed is null)
            {
                _feed = new Feed(newest);
                _feed.Start(this);
            }
            var subscriber = new ChannelSubscriber(group, onMessage, _logger, Detach);
            _subscribers[group] = _subscribers.TryGetValue(group, out var others) ? [.. others, subscriber] : [subscriber];
            _starts.Add(subscriber, Math.Max(newest, _feed.Cursor));
            return ValueTask.FromResult<IAsyncDisposable>(subscriber);
        }
    }

    private void Detach(ChannelSubscriber subscriber)
    {
        Feed? stop = null;
        lock (_gate)
        {
            if (!_starts.Remove(subscriber)) return;
            if (_subscribers.TryGetValue(subscriber.Group, out var list))
            {
                var rest = list.Where(s => s != subscriber).ToArray();
                if (rest.Length == 0) _subscribers.Remove(subscriber.Group);
                else _subscribers[subscriber.Group] = rest;
            }
            if (_subscribers.Count == 0)
            {
                stop = _feed;
                _feed = null;
            }
        }
        // Outside the gate: cancelling may run the loop's continuation inline.
        stop?.Stop();
    }

    public async ValueTask ReportMembersAsync(string node, IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> members, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(node);
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        var now = _engine.NowMs;
        var expires = timeToLive <= TimeSpan.Zero ? now : now + Math.Max(1L, (long)Math.Min(timeToLive.TotalMilliseconds, 1e15));
        var rows = new List<(string Group, string Members)>(members.Count);
        foreach (var (group, list) in members)
        {
            if (list is not { Count: > 0 }) continue;
            rows.Add((group, JsonSerializer.Serialize(list, SqliteChannelJsonContext.Default.IReadOnlyListGroupMember)));
        }
        await _engine.WriteAsync(static (w, r) =>
        {
            var delete = w.Db.Get(DeleteNode, "@node");
            delete.Set(0, r.Node);
            delete.ExecuteNonQuery();
            var insert = w.Db.Get(InsertMembers, "@node", "@group", "@members", "@expires");
            foreach (var (group, json) in r.Rows)
            {
                insert.Set(0, r.Node);
                insert.Set(1, group);
                insert.Set(2, json);
                insert.Set(3, r.Expires);
                insert.ExecuteNonQuery();
            }
            var expired = w.Db.Get(DeleteExpiredMembers, "@now");
            expired.Set(0, r.Now);
            return expired.ExecuteNonQuery();
        }, (Node: node, Rows: rows, Expires: expires, Now: now), wakesReceivers: false, atomic: true, cancellationToken)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<GroupMember>> GetMembersAsync(string group, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        var snapshots = _engine.Read(static (db, q) =>
        {
            var command = db.Get(ReadMembers, "@group", "@now");
            command.Set(0, q.Group);
            command.Set(1, q.Now);
            var rows = new List<string>();
            using var reader = command.ExecuteReader();
            while (reader.Read()) rows.Add(reader.GetString(0));
            return rows;
        }, (Group: group, Now: _engine.NowMs), cancellationToken);
        var members = new List<GroupMember>();
        foreach (var json in snapshots)
        {
            try
            {
                if (JsonSerializer.Deserialize(json, SqliteChannelJsonContext.Default.GroupMemberArray) is { } list) members.AddRange(list);
            }
            catch (JsonException e)
            {
                LogMalformedMembers(e, group);
            }
        }
        members.Sort(static (a, b) => a.Since != b.Since ? a.Since.CompareTo(b.Since) : string.CompareOrdinal(a.Connection, b.Connection));
        return ValueTask.FromResult<IReadOnlyList<GroupMember>>(members);
    }

    public async ValueTask DisposeAsync()
    {
        if (Close() is { } feed) await feed.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Closes without waiting for the feed loop to end (a container disposed synchronously).</summary>
    public void Dispose() => Close();

    /// <summary>Stops the feed loop and ends every subscriber's pump after what it has queued; returns the loop stopped.</summary>
    private Feed? Close()
    {
        Feed? feed;
        List<ChannelSubscriber> subscribers;
        lock (_gate)
        {
            if (_disposed) return null;
            _disposed = true;
            feed = _feed;
            _feed = null;
            subscribers = [.. _starts.Keys];
            _starts.Clear();
            _subscribers.Clear();
        }
        feed?.Stop();
        foreach (var subscriber in subscribers) subscriber.Complete();
        return feed;
    }

    internal static int Prune(WriterSession w)
    {
        var now = w.NowMs;
        var feed = w.Db.Get(PruneFeed, "@cutoff");
        feed.Set(0, now - FeedRetainMs);
        var deleted = feed.ExecuteNonQuery();
        var history = w.Db.Get(PruneHistory, "@now");
        history.Set(0, now);
        deleted += history.ExecuteNonQuery();
        var until = w.Db.Get(ClearHistoryUntil, "@now");
        until.Set(0, now);
        until.ExecuteNonQuery();
        var members = w.Db.Get(DeleteExpiredMembers, "@now");
        members.Set(0, now);
        return deleted + members.ExecuteNonQuery();
    }

    /// <summary>Reads a stored message (a JSON object with a string <c>type</c>).</summary>
    private static bool TryParse(string group, long offset, string body, long sentAt, [NotNullWhen(true)] out GroupMessage? message)
    {
        message = null;
        JsonElement element;
        try
        {
            using var document = JsonDocument.Parse(body);
            element = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return false;
        }
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            return false;
        message = new GroupMessage(group, offset, type.GetString()!, element, Db.FromUnixMs(sentAt));
        return true;
    }

    private readonly record struct FeedRow(long Seq, string Group, long Offset, string Body, long SentAt);

    /// <summary>Hands a batch of feed rows to this process's subscribers of their groups, unless the feed was stopped.</summary>
    private void Dispatch(Feed feed, List<FeedRow> batch)
    {
        lock (_gate)
        {
            if (feed != _feed) return;
            foreach (var row in batch)
            {
                if (row.Seq > feed.Cursor + 1) LogFeedBehind(row.Seq - feed.Cursor - 1);
                feed.Cursor = row.Seq;
                if (!_subscribers.TryGetValue(row.Group, out var subscribers)) continue;
                GroupMessage? message = null;
                foreach (var subscriber in subscribers)
                {
                    if (row.Seq <= _starts[subscriber]) continue;
                    if (message is null && !TryParse(row.Group, row.Offset, row.Body, row.SentAt, out message))
                    {
                        LogMalformed(row.Group, row.Offset);
                        break;
                    }
                    subscriber.Post(message);
                }
            }
        }
    }

    /// <summary>
    /// The loop that reads <c>channel_feed</c> for this process while it has subscriptions. Started by the first
    /// subscription; stopped when the last one leaves or the layer closes (it then hands nothing out any more).
    /// </summary>
    private sealed class Feed(long cursor)
    {
        // Not disposed: Stop may come after the loop ended (the engine closed first), and it holds no timer.
        private readonly CancellationTokenSource _stop = new();

        /// <summary>The last seq handed out (guarded by the layer's gate).</summary>
        public long Cursor { get; set; } = cursor;

        public Task Completion { get; private set; } = Task.CompletedTask;

        public void Start(SqliteChannelLayer layer) => Completion = Task.Run(() => RunAsync(layer));

        public void Stop() => _stop.Cancel();

        private async Task RunAsync(SqliteChannelLayer layer)
        {
            var engine = layer._engine;
            var stop = _stop.Token;
            // Registered before the first read, so the monitor watches other processes from then on.
            engine.EnterGroupWait();
            try
            {
                var after = Cursor;
                while (!stop.IsCancellationRequested)
                {
                    // Taken before the read: a send committed during the read completes this signal.
                    var changed = engine.GroupsChanged;
                    List<FeedRow> batch;
                    try
                    {
                        batch = engine.Read(static (db, after) => ReadBatch(db, after), after, stop);
                    }
                    catch (ObjectDisposedException)
                    {
                        return;
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception e)
                    {
                        layer.LogFeedFailed(e);
                        await Task.Delay(engine.PollInterval, engine.Time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        continue;
                    }
                    if (batch.Count > 0)
                    {
                        after = batch[^1].Seq;
                        layer.Dispatch(this, batch);
                    }
                    if (batch.Count == FeedBatch) continue;
                    await changed.WaitAsync(stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
            finally
            {
                engine.ExitGroupWait();
            }
        }

        private static List<FeedRow> ReadBatch(CommandCache db, long after)
        {
            var command = db.Get(ReadFeed, "@after");
            command.Set(0, after);
            var batch = new List<FeedRow>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
                batch.Add(new FeedRow(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetInt64(4)));
            return batch;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a malformed message of group {Group} (offset {Offset}) in SQLite")]
    private partial void LogMalformed(string group, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored malformed members of group {Group} in SQLite")]
    private partial void LogMalformedMembers(Exception exception, string group);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The channel feed fell behind the SQLite prune: {Missed} group messages were not delivered in this process")]
    private partial void LogFeedBehind(long missed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the channel feed from SQLite failed; trying again")]
    private partial void LogFeedFailed(Exception exception);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(IReadOnlyList<GroupMember>))]
[JsonSerializable(typeof(GroupMember[]))]
internal sealed partial class SqliteChannelJsonContext : JsonSerializerContext;
