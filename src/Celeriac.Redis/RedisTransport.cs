using System.Globalization;
using System.Text.Json;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Queues in Redis, every state change one Lua script (see <see cref="RedisScripts"/> for the data layout). A message
/// keeps its hash from enqueue to ack; receiving moves it from the queue's ready set to its leased set (score: lease
/// end) and bumps its delivery count, so a lease that runs out is a due entry that the next receive puts back at its
/// original place. Delayed messages wait in the delayed set by visible-at. Enqueue and release publish on the queue's
/// channel; a receive with nothing to take sleeps until that notification, the earliest delayed or leased score of its
/// queues, or its max wait, whichever comes first (no polling).
/// <para>
/// Damaged records (a field missing or not a number, a key of another type under the prefix) are found by the
/// scripts before they write (see <see cref="RedisScripts.Common"/>): a damaged message record is dead-lettered as
/// <c>corrupt-record</c> and logged once here, and the good messages around it go on; a queue whose own keys are
/// damaged fails its calls with <see cref="QueueFaultException"/> before anything changed.
/// </para>
/// </summary>
internal sealed partial class RedisTransport : ITaskTransport
{
    /// <summary>Most messages one receive leases; a larger request gets this many.</summary>
    private const int MaxReceive = 1000;
    /// <summary>Most due entries one receive moves back to ready per set (the next receive moves the rest).</summary>
    private const int PromoteLimit = 1000;
    /// <summary>Messages per enqueue script call, so one call never holds the server long.</summary>
    private const int EnqueueChunk = 1000;
    /// <summary>Leases per renew script call.</summary>
    private const int RenewChunk = 1000;
    /// <summary>Messages deleted per purge script call.</summary>
    private const int PurgeChunk = 5000;

    /// <summary>Sends of at most this many messages are batched with concurrent sends.</summary>
    private const int BatchedEnqueueMax = 16;
    /// <summary>Most sends per batched enqueue call.</summary>
    private const int EnqueueBatch = 64;
    /// <summary>Most acks per batched ack call.</summary>
    private const int AckBatch = 512;

    private readonly RedisConnection _connection;
    private readonly RedisKeys _keys;
    private readonly RedisKey[] _routing;
    private readonly Batcher<IReadOnlyList<OutgoingMessage>, SendOutcome> _enqueues;
    private readonly Batcher<LeasedMessage, bool> _acks;
    private readonly ILogger _logger;

    /// <summary>The ids of one send, or why the script refused it (a key of its queue is of another type).</summary>
    private readonly record struct SendOutcome(string[]? Ids, string? Refused, string? Queue);

    public RedisTransport(RedisConnection connection, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
        _keys = _connection.Keys;
        _routing = [_connection.Keys.Sequence];
        _enqueues = new(EnqueueBatchAsync, EnqueueBatch, connection.BatchTimeout, TimeProvider.System);
        _acks = new(AckBatchAsync, AckBatch, connection.BatchTimeout, TimeProvider.System);
    }

    public ValueTask<string[]> EnqueueAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) return ValueTask.FromResult<string[]>([]);
        foreach (var m in messages)
        {
            ArgumentNullException.ThrowIfNull(m);
            ArgumentException.ThrowIfNullOrEmpty(m.Id);
            ArgumentException.ThrowIfNullOrEmpty(m.Queue);
        }
        // Small sends from concurrent callers share one script call; a large batch goes on its own (in chunks).
        return messages.Count <= BatchedEnqueueMax
            ? new ValueTask<string[]>(EnqueueBatchedAsync(messages))
            : new ValueTask<string[]>(EnqueueChunksAsync(messages));
    }

    private async Task<string[]> EnqueueBatchedAsync(IReadOnlyList<OutgoingMessage> messages) =>
        Accepted(await _enqueues.AddAsync(messages).ConfigureAwait(false));

    private static string[] Accepted(SendOutcome outcome) =>
        outcome.Ids ?? throw new QueueFaultException(outcome.Queue!, outcome.Refused!);

    private async Task<string[]> EnqueueChunksAsync(IReadOnlyList<OutgoingMessage> messages)
    {
        var ids = new string[messages.Count];
        for (var start = 0; start < messages.Count; start += EnqueueChunk)
        {
            var count = Math.Min(EnqueueChunk, messages.Count - start);
            var chunk = new OutgoingMessage[count];
            for (var i = 0; i < count; i++) chunk[i] = messages[start + i];
            var result = await EnqueueBatchAsync([chunk]).ConfigureAwait(false);
            Accepted(result[0]).CopyTo(ids, start);
        }
        return ids;
    }

    /// <summary>One enqueue script call for the messages of several sends; returns the ids of each send, or why it was refused.</summary>
    private async Task<SendOutcome[]> EnqueueBatchAsync(IReadOnlyList<IReadOnlyList<OutgoingMessage>> sends)
    {
        var total = 0;
        foreach (var send in sends) total += send.Count;
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var now = _connection.NowMs;
        var args = new RedisValue[4 + (8 * total)];
        args[0] = _keys.Transport;
        args[1] = _keys.QueueChannelPrefix;
        args[2] = now;
        args[3] = total;
        var a = 4;
        for (var s = 0; s < sends.Count; s++)
        {
            foreach (var m in sends[s])
            {
                args[a] = m.Id;
                args[a + 1] = m.Queue;
                args[a + 2] = m.Priority;
                args[a + 3] = m.Body;
                args[a + 4] = m.VisibleAt is { } visible ? visible.ToUnixTimeMilliseconds() : RedisValue.EmptyString;
                args[a + 5] = m.IdempotencyKey ?? RedisValue.EmptyString;
                args[a + 6] = m.IdempotencyKey is not null && m.IdempotencyExpiresAt is { } expires ? expires.ToUnixTimeMilliseconds() : RedisValue.EmptyString;
                args[a + 7] = s;
                a += 8;
            }
        }
        var result = (RedisResult[])(await RedisScripts.Enqueue.EvaluateAsync(db, _routing, args).ConfigureAwait(false))!;
        var outcomes = new SendOutcome[sends.Count];
        var r = 0;
        for (var s = 0; s < sends.Count; s++)
        {
            var send = sends[s];
            var ids = new string[send.Count];
            string? refused = null;
            for (var i = 0; i < send.Count; i++)
            {
                var item = result[r++];
                if (item.Resp2Type == ResultType.Array) refused ??= (string?)((RedisResult[])item!)[0] ?? "refused";
                else ids[i] = (string)item!;
            }
            if (refused is not null)
            {
                outcomes[s] = new SendOutcome(null, refused, send[0].Queue);
                continue;
            }
            outcomes[s] = new SendOutcome(ids, null, null);
            // Receivers of this process wake at once; other processes hear the script's PUBLISH.
            string? last = null;
            foreach (var m in send)
            {
                if (m.Queue == last) continue;
                last = m.Queue;
                _connection.PulseQueue(m.Queue);
            }
        }
        return outcomes;
    }

    public async ValueTask<IReadOnlyList<LeasedMessage>> ReceiveAsync(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        (queues, var waitFor) = ReceiveArguments.Check(queues, maxMessages, lease, maxWait);
        var time = _connection.Time;
        var deadline = time.GetUtcNow() + waitFor;
        var waiting = waitFor > TimeSpan.Zero;
        // Subscribed before the first look, so a send between that look and the wait still wakes this receive.
        if (waiting) await _connection.SubscribeQueuesAsync(queues).WaitAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var changed = waiting ? Changed(queues) : null;
            var (messages, next) = await TakeAsync(queues, maxMessages, lease, cancellationToken).ConfigureAwait(false);
            if (messages.Count > 0) return messages;
            var now = time.GetUtcNow();
            if (now >= deadline || changed is null) return [];
            var wakeAt = next >= 0 && DateTimeOffset.FromUnixTimeMilliseconds(next) < deadline ? DateTimeOffset.FromUnixTimeMilliseconds(next) : deadline;
            var delay = wakeAt - now;
            if (delay < TimeSpan.FromMilliseconds(1)) delay = TimeSpan.FromMilliseconds(1);
            await changed.WaitAsync(delay, time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private Task Changed(IReadOnlyList<string> queues)
    {
        if (queues.Count == 1) return _connection.QueueSignal(queues[0]).Task;
        var signals = new Task[queues.Count];
        for (var i = 0; i < signals.Length; i++) signals[i] = _connection.QueueSignal(queues[i]).Task;
        return Task.WhenAny(signals);
    }

    private async Task<(List<LeasedMessage> Messages, long Next)> TakeAsync(IReadOnlyList<string> queues, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var now = _connection.NowMs;
        var args = new RedisValue[6 + queues.Count];
        args[0] = _keys.Transport;
        args[1] = now;
        args[2] = Math.Min(max, MaxReceive);
        args[3] = Later(now, lease);
        args[4] = PromoteLimit;
        args[5] = queues.Count;
        for (var i = 0; i < queues.Count; i++) args[6 + i] = queues[i];
        var call = Translated(RedisScripts.Receive.EvaluateAsync(db, _routing, args));
        RedisResult result;
        if (!cancellationToken.CanBeCanceled)
        {
            result = await call.ConfigureAwait(false);
        }
        else
        {
            try
            {
                result = await call.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !call.IsCompleted)
            {
                // The caller left while the lease was being taken: give back whatever it took rather than leaving it
                // hidden until the lease runs out. Best effort: if Redis is gone, the leases simply run out.
                _ = ReleaseLateAsync(call);
                throw;
            }
        }
        return await ParseAsync(result).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="call"/>, with a script's refusal of a damaged queue (<c>CELERIAC-QUEUE ["queue", "why"]</c>)
    /// as a <see cref="QueueFaultException"/>.
    /// </summary>
    private static async Task<RedisResult> Translated(Task<RedisResult> call)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        catch (RedisServerException e) when (QueueFault(e.Message) is { } fault)
        {
            throw fault;
        }
    }

    private static QueueFaultException? QueueFault(string message)
    {
        const string Marker = "CELERIAC-QUEUE ";
        var at = message.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0) return null;
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(message[(at + Marker.Length)..]));
            using var parsed = JsonDocument.ParseValue(ref reader);
            return new QueueFaultException(parsed.RootElement[0].GetString() ?? "", parsed.RootElement[1].GetString() ?? "");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private async Task ReleaseLateAsync(Task<RedisResult> call)
    {
        try
        {
            var (taken, _) = await ParseAsync(await call.ConfigureAwait(false)).ConfigureAwait(false);
            foreach (var m in taken) await ReleaseAsync(m, null, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException)
        {
            // The leases run out on their own.
        }
    }

    /// <summary>
    /// Reads the receive script's answer: logs each damaged record it reported (once: the script has already moved it
    /// out of the queue), and leases the messages. A message whose fields cannot be read here is dead-lettered as
    /// <c>corrupt-record</c> rather than left leased; the script checks them first, so this is a second line.
    /// </summary>
    private async Task<(List<LeasedMessage> Messages, long Next)> ParseAsync(RedisResult result)
    {
        var items = (RedisResult[])result!;
        var next = (long)items[0];
        var reports = (int)items[1];
        var first = 2 + (3 * reports);
        for (var i = 2; i < first; i += 3)
            LogCorruptRecord((string?)items[i] ?? "", (string?)items[i + 1] ?? "", (string?)items[i + 2] ?? "");
        var count = (items.Length - first) / 6;
        if (count == 0) return ([], next);
        var messages = new List<LeasedMessage>(count);
        List<(LeasedMessage Message, string Why)>? unreadable = null;
        for (var i = first; i + 5 < items.Length; i += 6)
        {
            var id = (string?)items[i] ?? "";
            var queue = (string?)items[i + 1] ?? "";
            var seq = (string?)items[i + 5] ?? "";
            var priorityRead = int.TryParse((string?)items[i + 2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority);
            var deliveriesRead = int.TryParse((string?)items[i + 4], NumberStyles.None, CultureInfo.InvariantCulture, out var deliveries);
            var body = (string?)items[i + 3];
            var message = new LeasedMessage(id, queue, priority, body ?? "", deliveries,
                string.Concat(seq, ":", deliveries.ToString(CultureInfo.InvariantCulture)));
            if (priorityRead && deliveriesRead && body is not null) messages.Add(message);
            else (unreadable ??= []).Add((message, $"message record {id}: priority '{(string?)items[i + 2]}', delivery count '{(string?)items[i + 4]}' or body could not be read; moved to the dead-letter store as corrupt-record"));
        }
        if (unreadable is not null)
        {
            foreach (var (message, why) in unreadable)
            {
                LogCorruptRecord(message.Id, message.Queue, why);
                // Without a readable delivery count the lease token is wrong and this returns false: the lease then
                // runs out and the next receive's checks dead-letter the record.
                await DeadLetterAsync(message, DeadLetterInfo.CorruptRecord(why)).ConfigureAwait(false);
            }
        }
        return (messages, 0);
    }

    public ValueTask<bool> AckAsync(LeasedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        // Concurrent acks (one per finished task) share one script call.
        return new ValueTask<bool>(_acks.AddAsync(message));
    }

    private async Task<bool[]> AckBatchAsync(IReadOnlyList<LeasedMessage> messages)
    {
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var args = new RedisValue[1 + (3 * messages.Count)];
        args[0] = _keys.Transport;
        for (var i = 0; i < messages.Count; i++)
        {
            args[1 + (3 * i)] = messages[i].Queue;
            args[2 + (3 * i)] = messages[i].LeaseToken;
            args[3 + (3 * i)] = messages[i].Id;
        }
        var result = (RedisResult[])(await RedisScripts.Ack.EvaluateAsync(db, _routing, args).ConfigureAwait(false))!;
        var acked = new bool[messages.Count];
        for (var i = 0; i < acked.Length; i++) acked[i] = (int)result[i] == 1;
        return acked;
    }

    public async ValueTask<IReadOnlyList<LeasedMessage>> RenewAsync(IReadOnlyList<LeasedMessage> messages, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        if (messages.Count == 0) return [];
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var lost = new List<LeasedMessage>();
        for (var start = 0; start < messages.Count; start += RenewChunk)
        {
            var count = Math.Min(RenewChunk, messages.Count - start);
            var args = new RedisValue[2 + (3 * count)];
            args[0] = _keys.Transport;
            args[1] = Later(_connection.NowMs, lease);
            for (var i = 0; i < count; i++)
            {
                var m = messages[start + i];
                args[2 + (3 * i)] = m.Queue;
                args[3 + (3 * i)] = m.LeaseToken;
                args[4 + (3 * i)] = m.Id;
            }
            var result = (RedisResult[])(await RedisScripts.Renew.EvaluateAsync(db, _routing, args).ConfigureAwait(false))!;
            for (var i = 0; i < count; i++)
                if ((int)result[i] != 1) lost.Add(messages[start + i]);
        }
        return lost;
    }

    public async ValueTask<bool> ReleaseAsync(LeasedMessage message, DateTimeOffset? visibleAt, string? newBody, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await Translated(RedisScripts.Release.EvaluateAsync(db, _routing,
        [
            _keys.Transport, _keys.QueueChannelPrefix, message.Queue, message.Id, message.LeaseToken, _connection.NowMs,
            visibleAt is { } v ? v.ToUnixTimeMilliseconds() : RedisValue.EmptyString,
            newBody is null ? "0" : "1", newBody ?? RedisValue.EmptyString,
        ])).ConfigureAwait(false);
        if (result.Resp2Type == ResultType.Array)
        {
            LogCorruptRecord(message.Id, message.Queue, (string?)((RedisResult[])result!)[0] ?? "");
            return false;
        }
        if ((int)result != 1) return false;
        _connection.PulseQueue(message.Queue);
        return true;
    }

    public async ValueTask<bool> DeadLetterAsync(LeasedMessage message, DeadLetterInfo info, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(info);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.DeadLetter.EvaluateAsync(db, _routing,
        [
            _keys.Transport, message.Queue, message.Id, message.LeaseToken, _connection.NowMs,
            JsonSerializer.Serialize(info, RedisJsonContext.Default.DeadLetterInfo),
        ]).ConfigureAwait(false);
        return (int)result == 1;
    }

    public async ValueTask<IReadOnlyList<QueueStats>> GetQueueStatsAsync(CancellationToken cancellationToken = default)
    {
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var items = (RedisResult[])(await RedisScripts.Stats.EvaluateAsync(db, _routing, [_keys.Transport, _connection.NowMs]).ConfigureAwait(false))!;
        var stats = new List<QueueStats>(items.Length / 6);
        for (var i = 0; i + 5 < items.Length; i += 6)
        {
            DateTimeOffset? oldest = long.TryParse((string?)items[i + 5], System.Globalization.CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
            stats.Add(new QueueStats((string)items[i]!, (long)items[i + 1], (long)items[i + 2], (long)items[i + 3], (long)items[i + 4], oldest));
        }
        stats.Sort(static (a, b) => string.CompareOrdinal(a.Queue, b.Queue));
        return stats;
    }

    public async ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        if (limit == 0) return [];
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var entries = await db.ListRangeAsync(_keys.Transport + "dead", 0, limit - 1).ConfigureAwait(false);
        var list = new List<DeadLetter>(entries.Length);
        foreach (var entry in entries)
        {
            StoredDeadLetter? stored;
            try
            {
                stored = JsonSerializer.Deserialize((string)entry!, RedisJsonContext.Default.StoredDeadLetter);
            }
            catch (JsonException e)
            {
                LogUnreadableDeadLetter(e.Message);
                continue;
            }
            if (stored is null) continue;
            list.Add(ToDeadLetter(stored));
        }
        return list;
    }

    /// <summary>A stored entry as a dead letter; fields another writer left out read as empty rather than null.</summary>
    private static DeadLetter ToDeadLetter(StoredDeadLetter stored) =>
        new(stored.Id ?? "", stored.Queue ?? "", stored.Body ?? "", stored.DeliveryCount,
            stored.Info ?? DeadLetterInfo.CorruptRecord("the dead-letter entry has no info"),
            DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(stored.FailedAt, 0, 253402300799999)));

    public async ValueTask<DeadLetter?> GetDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.GetDeadLetter.EvaluateAsync(db, _routing, [_keys.Transport, id]).ConfigureAwait(false);
        if (result.IsNull) return null;
        try
        {
            return JsonSerializer.Deserialize((string)result!, RedisJsonContext.Default.StoredDeadLetter) is { } stored ? ToDeadLetter(stored) : null;
        }
        catch (JsonException e)
        {
            LogUnreadableDeadLetter(e.Message);
            return null;
        }
    }

    public async ValueTask<bool> RequeueDeadLetterAsync(string id, string newBody, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(newBody);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await Translated(RedisScripts.RequeueDeadLetter.EvaluateAsync(db, _routing,
            [_keys.Transport, _keys.QueueChannelPrefix, id, newBody, _connection.NowMs])).ConfigureAwait(false);
        if (result.Resp2Type != ResultType.Array) return false;
        // Receivers of this process wake at once; other processes hear the script's PUBLISH.
        if ((string?)((RedisResult[])result!)[0] is { } queue) _connection.PulseQueue(queue);
        return true;
    }

    public async ValueTask<bool> DeleteDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.DeleteDeadLetter.EvaluateAsync(db, _routing, [_keys.Transport, id]).ConfigureAwait(false);
        return (long)result > 0;
    }

    public async ValueTask<string?> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        var result = await RedisScripts.Remove.EvaluateAsync(db, _routing, [_keys.Transport, id]).ConfigureAwait(false);
        return result.IsNull ? null : (string?)result;
    }

    public async ValueTask<long> PurgeAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        var db = await _connection.DatabaseAsync().ConfigureAwait(false);
        long total = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = (RedisResult[])(await RedisScripts.Purge.EvaluateAsync(db, _routing, [_keys.Transport, queue, PurgeChunk]).ConfigureAwait(false))!;
            total += (long)result[0];
            if ((int)result[1] == 0) return total;
        }
    }

    /// <summary><paramref name="now"/> plus <paramref name="span"/> in Unix milliseconds, capped at a century.</summary>
    private static long Later(long now, TimeSpan span) =>
        now + (long)Math.Min(span.TotalMilliseconds, TimeSpan.FromDays(36500).TotalMilliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Damaged record of message {MessageId} in queue {Queue}: {Why}")]
    private partial void LogCorruptRecord(string messageId, string queue, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped an unreadable entry of the Redis dead-letter list: {Why}")]
    private partial void LogUnreadableDeadLetter(string why);
}
