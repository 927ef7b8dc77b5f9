using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// The channel layer on Redis, shared by every process on the same server and key prefix.
/// <para>
/// Groups. Each group has two keys with the group name as hash tag (a cluster spreads groups over its slots, a group's
/// keys share one): <c>celeriac:g:{group}:o</c>, the offset counter, which never expires, so offsets only grow; and
/// <c>celeriac:g:{group}:h</c>, a list of the last <see cref="ChannelLayerOptions.HistoryLength"/> messages, oldest
/// first, that expires (server-side <c>PEXPIRE</c>) <see cref="ChannelLayerOptions.HistoryWindow"/> after the last send.
/// A send is one script: <c>INCR</c>, <c>RPUSH</c>+<c>LTRIM</c>+<c>PEXPIRE</c>, <c>PUBLISH</c> on <c>celeriac:g:group</c>;
/// scripts run one at a time, so the channel carries every group's offsets in increasing order. A history read is
/// one script too (counter and list seen at one instant). History entries and channel messages share one frame:
/// <c>&lt;offset&gt;:&lt;sent-at Unix ms&gt;:&lt;message JSON&gt;</c> (the JSON is stored as the sender wrote it, never
/// re-encoded by Lua; the type is read back from it).
/// </para>
/// <para>
/// Lifecycle of a subscription: the first local subscription to a group subscribes to the group's channel through
/// the connection's shared subscriber (ordered delivery) and returns once the server has confirmed it, so a message sent
/// afterwards by any process reaches it. Later subscriptions of this process to the group share that Redis subscription;
/// each has its own bounded queue and pump task, so its callback runs one message at a time, in offset order, and a slow
/// callback delays only itself (beyond <see cref="ChannelSubscriber.Capacity"/> queued messages the oldest are dropped, with a
/// warning: the consumer sees a gap and resumes from the history). Disposing the last local subscription unsubscribes.
/// After a lost connection the multiplexer subscribes again on its own; messages published while it was down are not
/// delivered (the consumer sees the gap in offsets and reads the history).
/// </para>
/// <para>
/// Membership. Per node a hash <c>T node:&lt;node&gt;</c> (field = group, value = JSON array of the node's members in it),
/// replaced as a whole by each report and expiring with the report's time to live, and a registry <c>T nodes</c>
/// (sorted set, score = when the node's report runs out, client clock). <see cref="GetMembersAsync"/> drops the nodes
/// that ran out and reads one field of each live node: the cost is the number of nodes plus the members of that group,
/// however many members the nodes hold in other groups. Both scripts touch only <c>T</c> keys (one slot).
/// </para>
/// </summary>
internal sealed partial class RedisChannelLayer : IChannelLayer, IAsyncDisposable, IDisposable
{
    /// <summary>Group/member pairs per <c>HSET</c> in the report script (Lua's <c>unpack</c> has a stack limit).</summary>
    private const int ReportChunk = 500;

    /// <summary>
    /// KEYS: offset counter, history. ARGV: channel, sent-at, message JSON, history length, history window (ms).
    /// Takes the next offset, keeps the frame in the history and publishes it. Returns the offset.
    /// </summary>
    private static readonly RedisScript Send = new("""
        local offset = redis.call('INCR', KEYS[1])
        local frame = string.format('%d', offset) .. ':' .. ARGV[2] .. ':' .. ARGV[3]
        local keep, window = tonumber(ARGV[4]), tonumber(ARGV[5])
        if keep > 0 and window > 0 then
          redis.call('RPUSH', KEYS[2], frame)
          redis.call('LTRIM', KEYS[2], -keep, -1)
          redis.call('PEXPIRE', KEYS[2], window)
        else
          redis.call('DEL', KEYS[2])
        end
        redis.call('PUBLISH', ARGV[1], frame)
        return offset
        """);

    /// <summary>
    /// KEYS: offset counter, history. ARGV: after. Returns { last offset, frames … }: the kept frames from offset
    /// after + 1 on, or all kept frames when the oldest is later than that (the caller sees the history is incomplete).
    /// The history holds consecutive offsets ending at the last one, so the start is an index; checked, with a full
    /// read as fallback.
    /// </summary>
    private static readonly RedisScript Read = new("""
        local last = tonumber(redis.call('GET', KEYS[1]) or '0')
        local after = tonumber(ARGV[1])
        if after < 0 or after >= last then return { last } end
        local n = redis.call('LLEN', KEYS[2])
        local out = { last }
        if n == 0 then return out end
        local start = after + 1 - (last - n + 1)
        if start < 0 then start = 0 end
        local frames = redis.call('LRANGE', KEYS[2], start, -1)
        if start > 0 and (frames[1] == nil or tonumber(string.match(frames[1], '^(%d+):')) ~= after + 1) then
          frames = redis.call('LRANGE', KEYS[2], 0, -1)
        end
        for i = 1, #frames do out[#out + 1] = frames[i] end
        return out
        """);

    /// <summary>
    /// KEYS: registry, node hash. ARGV: node, runs-out-at (Unix ms), time to live (ms), now (Unix ms), node key prefix,
    /// then group, members JSON, group, members JSON, … Replaces the node's snapshot, registers it until runs-out-at and
    /// drops nodes that ran out.
    /// </summary>
    private static readonly RedisScript Report = new($$"""
        redis.call('DEL', KEYS[2])
        local n = #ARGV
        local i = 6
        while i <= n do
          local last = math.min(i + {{2 * ReportChunk - 1}}, n)
          redis.call('HSET', KEYS[2], unpack(ARGV, i, last))
          i = last + 1
        end
        if n >= 6 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
        local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
        for k = 1, #dead do
          if dead[k] ~= ARGV[1] then redis.call('DEL', ARGV[5] .. dead[k]) end
        end
        if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4]) end
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        return 1
        """);

    /// <summary>
    /// KEYS: registry. ARGV: now (Unix ms), node key prefix, group. Drops the nodes that ran out (registry entry and
    /// hash); returns the group's members JSON of every live node that holds some.
    /// </summary>
    private static readonly RedisScript Members = new("""
        local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        if #dead > 0 then
          for k = 1, #dead do redis.call('DEL', ARGV[2] .. dead[k]) end
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        end
        local out = {}
        local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
        for k = 1, #live do
          local members = redis.call('HGET', ARGV[2] .. live[k], ARGV[3])
          if members then out[#out + 1] = members end
        end
        return out
        """);

    private readonly RedisConnection _connection;
    private readonly RedisKeys _keys;
    private readonly ChannelLayerOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, GroupFeed> _feeds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _stopping = new(StringComparer.Ordinal);
    private volatile bool _disposed;

    public RedisChannelLayer(RedisConnection connection, ChannelLayerOptions options, ILogger logger)
    {
        _connection = connection;
        _keys = connection.Keys;
        _options = options;
        _logger = logger;
    }

    public async ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default)
    {
        var (element, type) = ChannelGroups.Prepare(group, message, _options.MaxMessageBytes);
        cancellationToken.ThrowIfCancellationRequested();
        var sentAt = _connection.NowMs;
        var window = _options.HistoryWindow <= TimeSpan.Zero ? 0 : Math.Max(1L, (long)_options.HistoryWindow.TotalMilliseconds);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var offset = (long)await Send.EvaluateAsync(db, [_keys.GroupOffset(group), _keys.GroupHistory(group)],
        [
            _keys.GroupChannelPrefix + group, sentAt, element.GetRawText(), Math.Max(0, _options.HistoryLength), window,
        ]).ConfigureAwait(false);
        return new GroupMessage(group, offset, type, element, DateTimeOffset.FromUnixTimeMilliseconds(sentAt));
    }

    public async ValueTask<GroupHistory> ReadHistoryAsync(string group, long afterOffset, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        cancellationToken.ThrowIfCancellationRequested();
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await Read.EvaluateAsync(db, [_keys.GroupOffset(group), _keys.GroupHistory(group)], [afterOffset])
            .ConfigureAwait(false))!;
        var last = (long)result[0];
        var kept = new List<GroupMessage>(result.Length - 1);
        for (var i = 1; i < result.Length; i++)
        {
            if (TryParse(group, (byte[]?)result[i], out var entry)) kept.Add(entry);
            else LogMalformedFrame(group);
        }
        return ChannelGroups.Slice(kept, afterOffset, last);
    }

    public async ValueTask<IAsyncDisposable> SubscribeAsync(string group, Func<GroupMessage, ValueTask> onMessage, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        ArgumentNullException.ThrowIfNull(onMessage);
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        GroupFeed feed;
        ChannelSubscriber subscription;
        lock (_gate)
        {
            if (!_feeds.TryGetValue(group, out feed!) || feed.Ready.IsFaulted || feed.Ready.IsCanceled)
            {
                // A Redis subscription of this group still being ended is done first, so the two never interleave.
                _stopping.TryGetValue(group, out var stopping);
                _feeds[group] = feed = new GroupFeed(this, group, stopping);
            }
            subscription = new ChannelSubscriber(group, onMessage, _logger, s => Release(feed, s));
            feed.Add(subscription);
        }
        try
        {
            await feed.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return subscription;
    }

    public async ValueTask ReportMembersAsync(string node, IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> members, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(node);
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        var now = _connection.NowMs;
        var ttl = Math.Max(1L, (long)Math.Min(timeToLive.TotalMilliseconds, 1e15));
        var args = new List<RedisValue>(5 + (2 * members.Count))
        {
            node, timeToLive <= TimeSpan.Zero ? now : now + ttl, ttl, now, _keys.MemberNodePrefix,
        };
        foreach (var (group, list) in members)
        {
            if (list is not { Count: > 0 }) continue;
            args.Add(group);
            args.Add(JsonSerializer.SerializeToUtf8Bytes(list, RedisChannelJsonContext.Default.IReadOnlyListGroupMember));
        }
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        await Report.EvaluateAsync(db, [_keys.MemberNodes, _keys.MemberNode(node)], [.. args]).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<GroupMember>> GetMembersAsync(string group, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        cancellationToken.ThrowIfCancellationRequested();
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await Members.EvaluateAsync(db, [_keys.MemberNodes], [_connection.NowMs, _keys.MemberNodePrefix, group])
            .ConfigureAwait(false))!;
        var members = new List<GroupMember>();
        foreach (var entry in result)
        {
            try
            {
                if (JsonSerializer.Deserialize((byte[])entry!, RedisChannelJsonContext.Default.GroupMemberArray) is { } list)
                    members.AddRange(list);
            }
            catch (JsonException e)
            {
                LogMalformedMembers(e, group);
            }
        }
        members.Sort(static (a, b) => a.Since != b.Since ? a.Since.CompareTo(b.Since) : string.CompareOrdinal(a.Connection, b.Connection));
        return members;
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        List<GroupFeed> feeds;
        lock (_gate)
        {
            feeds = [.. _feeds.Values];
            _feeds.Clear();
        }
        // The connection (disposed after this layer) ends the Redis subscriptions; here the pumps stop.
        foreach (var feed in feeds) feed.Close();
    }

    /// <summary>Reads one history entry or channel message (see the class remarks for the frame).</summary>
    internal static bool TryParse(string group, ReadOnlySpan<byte> frame, [NotNullWhen(true)] out GroupMessage? message)
    {
        message = null;
        var colon = frame.IndexOf((byte)':');
        if (colon <= 0 || !Utf8Parser.TryParse(frame[..colon], out long offset, out var used) || used != colon) return false;
        frame = frame[(colon + 1)..];
        colon = frame.IndexOf((byte)':');
        if (colon <= 0 || !Utf8Parser.TryParse(frame[..colon], out long sentAt, out used) || used != colon) return false;
        JsonElement element;
        try
        {
            var reader = new Utf8JsonReader(frame[(colon + 1)..]);
            element = JsonElement.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            return false;
        }
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            return false;
        message = new GroupMessage(group, offset, type.GetString()!, element, DateTimeOffset.FromUnixTimeMilliseconds(sentAt));
        return true;
    }

    private void Release(GroupFeed feed, ChannelSubscriber subscription)
    {
        Task? stop = null;
        lock (_gate)
        {
            if (!feed.Remove(subscription) || _feeds.GetValueOrDefault(feed.Group) != feed) return;
            _feeds.Remove(feed.Group);
            // Unsubscribing starts outside the gate; a new feed of this group waits for it.
            _stopping[feed.Group] = stop = Task.Run(feed.StopAsync);
        }
        _ = stop.ContinueWith(done =>
        {
            lock (_gate)
            {
                if (_stopping.GetValueOrDefault(feed.Group) == done) _stopping.Remove(feed.Group);
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>One Redis subscription to a group's channel, shared by this process's subscriptions to the group.</summary>
    private sealed class GroupFeed
    {
        private readonly RedisChannelLayer _layer;
        private ChannelSubscriber[] _subscribers = [];

        public GroupFeed(RedisChannelLayer layer, string group, Task? previous)
        {
            _layer = layer;
            Group = group;
            Ready = StartAsync(previous);
        }

        public string Group { get; }

        /// <summary>Completes once the server has confirmed the subscription.</summary>
        public Task<ChannelMessageQueue> Ready { get; }

        private async Task<ChannelMessageQueue> StartAsync(Task? previous)
        {
            if (previous is not null) await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var messages = await _layer._connection.SubscribeOrderedAsync(_layer._keys.GroupChannel(Group)).ConfigureAwait(false);
            // Runs one message at a time, in the order the server sent them; hands each to every subscriber's queue.
            messages.OnMessage(Dispatch);
            return messages;
        }

        private void Dispatch(ChannelMessage message)
        {
            var subscribers = Volatile.Read(ref _subscribers);
            if (subscribers.Length == 0) return;
            if (!TryParse(Group, (byte[]?)message.Message, out var parsed))
            {
                _layer.LogMalformedFrame(Group);
                return;
            }
            foreach (var subscriber in subscribers) subscriber.Post(parsed);
        }

        // Add and Remove run under the layer's gate.
        public void Add(ChannelSubscriber subscription) => _subscribers = [.. _subscribers, subscription];

        public bool Remove(ChannelSubscriber subscription)
        {
            if (Array.IndexOf(_subscribers, subscription) < 0) return false;
            _subscribers = [.. _subscribers.Where(s => s != subscription)];
            return _subscribers.Length == 0;
        }

        /// <summary>Stops every subscriber's pump (the layer is disposed).</summary>
        public void Close()
        {
            foreach (var subscriber in Interlocked.Exchange(ref _subscribers, [])) subscriber.Complete();
        }

        public async Task StopAsync()
        {
            // A subscription that failed (its subscribers saw why) has nothing to end.
            await ((Task)Ready).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!Ready.IsCompletedSuccessfully) return;
            try
            {
                await _layer._connection.UnsubscribeAsync(Ready.Result).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException)
            {
                // The handler is gone locally; the server drops the subscription with the connection.
                _layer.LogUnsubscribeFailed(e, Group);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a malformed message of group {Group} in Redis")]
    private partial void LogMalformedFrame(string group);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored malformed members of group {Group} in Redis")]
    private partial void LogMalformedMembers(Exception exception, string group);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unsubscribing from group {Group} in Redis failed; the server drops the subscription when the connection closes")]
    private partial void LogUnsubscribeFailed(Exception exception, string group);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(IReadOnlyList<GroupMember>))]
[JsonSerializable(typeof(GroupMember[]))]
internal sealed partial class RedisChannelJsonContext : JsonSerializerContext;
