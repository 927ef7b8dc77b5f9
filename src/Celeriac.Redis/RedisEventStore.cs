using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Events on Redis. Durable subscriptions live in one hash, <c>T subscriptions</c> (name → JSON with <c>pattern</c>,
/// <c>queue</c>, <c>createdAt</c>), under the transport prefix, so publish is one Lua script on one slot: it reads the
/// registry, matches every pattern against the subject (NATS rules, in Lua, mirroring <see cref="EventSubjects.Matches"/>),
/// enqueues the body into each matching subscription's queue exactly as the transport's send does (shared Lua
/// <see cref="RedisScripts.EnqueueCore"/>: message id <c>{event id}:{name}</c>, priority 0, visible now, queue notification)
/// and publishes the event on the events channel (<c>celeriac:e</c>) for live listeners. A subscription saved before a
/// publish therefore always gets it, and a listener sees events in the order the scripts ran.
/// <para>
/// Lifecycle of a listener: <see cref="ListenAsync"/> subscribes to the events channel through the connection's shared
/// subscriber (ordered delivery), copies each event into a bounded buffer of its own (the oldest are dropped beyond
/// <see cref="ListenerQueue.Capacity"/>, with a warning) and unsubscribes when it ends. A publish from this store waits for
/// subscriptions of this store still being made, so a listener started here before a publish here always sees it.
/// Events published while the connection is down are not seen (best effort, as the contract says).
/// </para>
/// <para>
/// Events channel framing: <c>&lt;id byte length&gt;:&lt;id&gt;&lt;subject byte length&gt;:&lt;subject&gt;&lt;body&gt;</c>.
/// </para>
/// </summary>
internal sealed partial class RedisEventStore : IEventStore
{
    /// <summary>
    /// Lua <c>matches(pattern, subject)</c>: NATS subject matching, token by token, exactly as
    /// <see cref="EventSubjects.Matches"/> (<c>*</c> one non-empty token, <c>&gt;</c> as last token one or more).
    /// </summary>
    private const string Matching = """
        local function token(str, from)
          local dot = string.find(str, '.', from, true)
          if dot then return string.sub(str, from, dot - 1), dot + 1, true end
          return string.sub(str, from), #str + 1, false
        end
        local function matches(p, s)
          local pi, si = 1, 1
          while true do
            local pt, pmore, st, smore
            pt, pi, pmore = token(p, pi)
            if pt == '>' then return not pmore and si <= #s end
            st, si, smore = token(s, si)
            if st == '' or not (pt == '*' or pt == st) then return false end
            if not pmore or not smore then return pmore == smore end
          end
        end

        """;

    /// <summary>
    /// KEYS: sequence, registry. ARGV: T, queue channel prefix, now, events channel, event id, subject, body. Enqueues
    /// the body for every matching subscription (by name, in ordinal order) and publishes the event; returns
    /// {count, name, queue, …} of the subscriptions it was queued for, then (event id, name, why) for each matching
    /// subscription whose queue could not take it (a queue key of another type; checked before anything is written).
    /// </summary>
    private static readonly RedisScript Publish = new(RedisScripts.EnqueueCore + Matching + """
        local now, E, id, subject, body = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
        local registry = redis.call('HGETALL', KEYS[2])
        local matched = {}
        for i = 1, #registry, 2 do
          local ok, sub = pcall(cjson.decode, registry[i + 1])
          if ok and type(sub) == 'table' and type(sub.pattern) == 'string' and type(sub.queue) == 'string'
              and sub.queue ~= '' and matches(sub.pattern, subject) then
            matched[#matched + 1] = { registry[i], sub.queue }
          end
        end
        local out, usable = { 0 }, {}
        for _, m in ipairs(matched) do
          local why = refusal(m[2], id .. ':' .. m[1])
          if why then report(id, m[1], why) else usable[#usable + 1] = m end
        end
        if #usable > 0 then
          table.sort(usable, function(a, b) return a[1] < b[1] end)
          local base = redis.call('INCRBY', KEYS[1], #usable) - #usable
          for k, m in ipairs(usable) do
            put(id .. ':' .. m[1], m[2], 0, body, base + k, '', now)
            out[#out + 1] = m[1]
            out[#out + 1] = m[2]
          end
          finish()
        end
        out[1] = #usable
        for _, v in ipairs(reports) do out[#out + 1] = v end
        redis.call('PUBLISH', E, string.len(id) .. ':' .. id .. string.len(subject) .. ':' .. subject .. body)
        return out
        """);

    /// <summary>
    /// KEYS: registry. ARGV: name, pattern, queue, created-at. Creates or replaces the subscription, keeping the
    /// created-at of the one it replaces.
    /// </summary>
    private static readonly RedisScript Save = new("""
        local created = ARGV[4]
        local old = redis.call('HGET', KEYS[1], ARGV[1])
        if old then
          local ok, o = pcall(cjson.decode, old)
          if ok and type(o) == 'table' and type(o.createdAt) == 'string' then created = o.createdAt end
        end
        redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ pattern = ARGV[2], queue = ARGV[3], createdAt = created }))
        return 1
        """);

    private readonly RedisConnection _connection;
    private readonly RedisKeys _keys;
    private readonly ILogger _logger;
    private readonly RedisKey _registry;
    private readonly RedisKey[] _publishKeys;
    private readonly RedisChannel _eventChannel;
    private readonly Lock _gate = new();
    private Task _subscribing = Task.CompletedTask;

    public RedisEventStore(RedisConnection connection, ILogger logger)
    {
        _connection = connection;
        _keys = connection.Keys;
        _logger = logger;
        _registry = _keys.Subscriptions;
        _publishKeys = [_keys.Sequence, _registry];
        EventChannel = _keys.EventChannel;
        _eventChannel = RedisChannel.Literal(EventChannel);
    }

    /// <summary>The channel live events are published on (<c>celeriac:e</c>).</summary>
    public string EventChannel { get; }

    public async ValueTask SaveSubscriptionAsync(DurableSubscription subscription, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentException.ThrowIfNullOrEmpty(subscription.Name);
        ArgumentException.ThrowIfNullOrEmpty(subscription.Queue);
        EventSubjects.ValidatePattern(subscription.Pattern);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        await Save.EvaluateAsync(db, [_registry],
        [
            subscription.Name, subscription.Pattern, subscription.Queue,
            subscription.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        ]).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteSubscriptionAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        return await db.HashDeleteAsync(_registry, name).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<DurableSubscription>> GetSubscriptionsAsync(CancellationToken cancellationToken = default)
    {
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var entries = await db.HashGetAllAsync(_registry).ConfigureAwait(false);
        var list = new List<DurableSubscription>(entries.Length);
        foreach (var entry in entries)
        {
            var name = (string)entry.Name!;
            StoredSubscription? stored;
            try
            {
                stored = JsonSerializer.Deserialize((string)entry.Value!, RedisEventJsonContext.Default.StoredSubscription);
            }
            catch (JsonException e)
            {
                LogMalformedSubscription(e, name);
                continue;
            }
            if (stored?.Pattern is null || stored.Queue is null)
            {
                LogMalformedSubscription(null, name);
                continue;
            }
            list.Add(new DurableSubscription(name, stored.Pattern, stored.Queue, stored.CreatedAt));
        }
        list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    public async ValueTask<IReadOnlyList<string>> PublishAsync(PublishedEvent published, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(published);
        ArgumentException.ThrowIfNullOrEmpty(published.Id);
        ArgumentNullException.ThrowIfNull(published.Subject);
        ArgumentNullException.ThrowIfNull(published.Body);
        // A listener of this store that is still subscribing hears this event (as with the in-memory store).
        var subscribing = Volatile.Read(ref _subscribing);
        if (!subscribing.IsCompleted) await subscribing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await Publish.EvaluateAsync(db, _publishKeys,
        [
            _keys.Transport, _keys.QueueChannelPrefix, _connection.NowMs, EventChannel, published.Id, published.Subject, published.Body,
        ]).ConfigureAwait(false))!;
        var names = new string[(int)result[0]];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = (string)result[1 + (2 * i)]!;
            // Receivers of this process wake at once; other processes hear the script's PUBLISH.
            _connection.PulseQueue((string)result[2 + (2 * i)]!);
        }
        for (var i = 1 + (2 * names.Length); i + 2 < result.Length; i += 3)
            LogNotQueued(published.Id, (string?)result[i + 1] ?? "", (string?)result[i + 2] ?? "");
        return names;
    }

    public async IAsyncEnumerable<PublishedEvent> ListenAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var buffer = ListenerQueue.Create(_logger);
        var subscribe = _connection.SubscribeOrderedAsync(_eventChannel);
        lock (_gate) _subscribing = _subscribing.IsCompleted ? subscribe : Task.WhenAll(_subscribing, subscribe);
        ChannelMessageQueue messages;
        try
        {
            messages = await subscribe.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _ = UnsubscribeLateAsync(subscribe);
            throw;
        }
        // Runs one message at a time, in the order the server sent them.
        messages.OnMessage(message =>
        {
            if (TryParse((byte[]?)message.Message, out var published)) buffer.Writer.TryWrite(published);
            else LogMalformedEvent();
        });
        try
        {
            while (await buffer.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (buffer.Reader.TryRead(out var item)) yield return item;
            }
        }
        finally
        {
            buffer.Writer.TryComplete();
            await UnsubscribeAsync(messages).ConfigureAwait(false);
        }
    }

    private async Task UnsubscribeLateAsync(Task<ChannelMessageQueue> subscribe)
    {
        ChannelMessageQueue messages;
        try
        {
            messages = await subscribe.ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException)
        {
            return;
        }
        await UnsubscribeAsync(messages).ConfigureAwait(false);
    }

    private async Task UnsubscribeAsync(ChannelMessageQueue messages)
    {
        try
        {
            await _connection.UnsubscribeAsync(messages).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException)
        {
            // The handler is gone locally; the server drops the subscription with the connection.
            LogUnsubscribeFailed(e);
        }
    }

    /// <summary>Reads one events-channel message (see the class remarks for the framing).</summary>
    internal static bool TryParse(ReadOnlySpan<byte> frame, [NotNullWhen(true)] out PublishedEvent? published)
    {
        published = null;
        if (!TryField(ref frame, out var id) || !TryField(ref frame, out var subject)) return false;
        published = new PublishedEvent(id, subject, Encoding.UTF8.GetString(frame));
        return true;
    }

    private static bool TryField(ref ReadOnlySpan<byte> rest, [NotNullWhen(true)] out string? value)
    {
        value = null;
        var colon = rest.IndexOf((byte)':');
        if (colon <= 0 || !int.TryParse(rest[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || length > rest.Length - colon - 1) return false;
        value = Encoding.UTF8.GetString(rest.Slice(colon + 1, length));
        rest = rest[(colon + 1 + length)..];
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Event {EventId} was not queued for the durable subscription {Name}: {Why}")]
    private partial void LogNotQueued(string eventId, string name, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a malformed message on the Redis events channel")]
    private partial void LogMalformedEvent();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored the malformed durable event subscription {Name} in Redis")]
    private partial void LogMalformedSubscription(Exception? exception, string name);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribing an event listener from Redis failed")]
    private partial void LogUnsubscribeFailed(Exception exception);
}

/// <summary>A durable subscription as the registry hash holds it (the name is the field).</summary>
internal sealed record StoredSubscription(string? Pattern, string? Queue, DateTimeOffset CreatedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StoredSubscription))]
internal sealed partial class RedisEventJsonContext : JsonSerializerContext;
