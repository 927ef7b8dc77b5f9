using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Celeriac.AspNetCore.Channels;

/// <summary>
/// Group membership, replay and the client's protocol frames (docs/channels.md). Per group the connection keeps the
/// last offset it delivered: live messages at or below it are skipped, so each offset reaches the consumer once and
/// in order. A join subscribes first, then (as its own event in the message loop) reads the history, so no message
/// falls between the two: live messages that arrive meanwhile wait in <see cref="Membership.Pending"/> or the inbox.
/// </summary>
internal sealed partial class ConsumerConnection
{
    private readonly Dictionary<string, Membership> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _resumeOffsets;

    private sealed class Membership(DateTimeOffset since)
    {
        public DateTimeOffset Since { get; } = since;

        /// <summary>The newest offset delivered to the consumer (or covered by a <c>joined</c>/<c>reload</c>).</summary>
        public long LastDelivered { get; set; }

        /// <summary>The offset the client last heard of for this group: the last forwarded message, or a <c>joined</c>/<c>reload</c>/<c>resume</c> offset.</summary>
        public long LastForwarded { get; set; }

        /// <summary>Subscribed, history not read yet: live messages wait in <see cref="Pending"/>.</summary>
        public bool Joining { get; set; } = true;

        public List<GroupMessage>? Pending { get; set; }
    }

    public IReadOnlyCollection<string> GroupNames()
    {
        lock (_gate) return [.. _groups.Keys];
    }

    /// <summary><c>time:41,chat.room-1:7</c> → offsets by group; malformed entries are ignored.</summary>
    private static Dictionary<string, long> ParseResumeOffsets(string value)
    {
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = entry.LastIndexOf(':');
            if (colon > 0 && ChannelGroups.IsValidName(entry[..colon]) && long.TryParse(entry.AsSpan(colon + 1), out var offset) && offset >= 0)
                offsets[entry[..colon]] = offset;
        }
        return offsets;
    }

    /// <summary>
    /// Joins <paramref name="group"/>: subscribes through the node, then queues the join event that replays from
    /// <paramref name="after"/> (or the client's <c>celeriac-resume</c> offset; else the group's newest offset read before
    /// subscribing) and sends <c>joined</c>.
    /// </summary>
    public async ValueTask AddToGroupAsync(string group, long? after, CancellationToken cancellationToken)
    {
        ChannelGroups.ValidateName(group);
        Membership membership;
        lock (_gate)
        {
            if (_closing || _groups.ContainsKey(group)) return;
            membership = new Membership(_time.GetUtcNow());
            _groups[group] = membership;
            if (_resumeOffsets.Remove(group, out var resume)) after ??= resume;
        }
        long from;
        try
        {
            // A join without an offset starts from the group's newest offset read *before* subscribing, and replays what
            // came after it: a message sent while the subscription is being made is neither lost nor doubled.
            from = after ?? (await Layer.ReadHistoryAsync(group, long.MaxValue, cancellationToken).ConfigureAwait(false)).LastOffset;
            await _node.AddAsync(group, this, membership.Since, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                if (_groups.TryGetValue(group, out var m) && m == membership) _groups.Remove(group);
            }
            throw;
        }
        _inbox.Writer.TryWrite(InboxItem.Join(group, from));
    }

    public async ValueTask RemoveFromGroupAsync(string group, bool notify)
    {
        ChannelGroups.ValidateName(group);
        bool member;
        lock (_gate) member = _groups.Remove(group);
        if (member) await _node.RemoveAsync(group, this).ConfigureAwait(false);
        if (notify) Send(ProtocolFrames.Left(group), WebSocketMessageType.Text);
    }

    private async Task LeaveAllGroupsAsync()
    {
        string[] groups;
        lock (_gate)
        {
            groups = [.. _groups.Keys];
            _groups.Clear();
        }
        foreach (var group in groups)
        {
            try
            {
                await _node.RemoveAsync(group, this).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogLeaveFailed(_logger, e, Id, group);
            }
        }
    }

    private Membership? MembershipOf(string group)
    {
        lock (_gate) return _groups.GetValueOrDefault(group);
    }

    private bool IsCurrent(string group, Membership membership) => !_closing && MembershipOf(group) == membership;

    /// <summary>The join event: replay (or <c>reload</c>), <c>joined</c>, then the live messages that waited.</summary>
    private async ValueTask CompleteJoinAsync(string group, long from)
    {
        var membership = MembershipOf(group);
        if (membership is not { Joining: true }) return;
        var history = await Layer.ReadHistoryAsync(group, from).ConfigureAwait(false);
        if (!history.Complete)
        {
            membership.LastDelivered = membership.LastForwarded = history.LastOffset;
            Send(ProtocolFrames.Reload(group, history.LastOffset), WebSocketMessageType.Text);
        }
        else
        {
            membership.LastDelivered = membership.LastForwarded = from;
            foreach (var message in history.Messages)
            {
                await WaitForRoomAsync().ConfigureAwait(false);
                if (!IsCurrent(group, membership)) return;
                if (message.Offset <= membership.LastDelivered) continue;
                membership.LastDelivered = message.Offset;
                await _consumer.OnGroupMessageAsync(message).ConfigureAwait(false);
            }
            membership.LastDelivered = Math.Max(membership.LastDelivered, history.LastOffset);
        }
        if (!IsCurrent(group, membership)) return;
        membership.Joining = false;
        membership.LastForwarded = membership.LastDelivered;
        Send(ProtocolFrames.Joined(group, membership.LastDelivered), WebSocketMessageType.Text);
        var pending = membership.Pending;
        membership.Pending = null;
        foreach (var message in pending ?? [])
        {
            if (!IsCurrent(group, membership)) return;
            await DeliverAsync(membership, message).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A replay is read from the history far faster than any client reads: before each replayed message, wait (up to
    /// <see cref="CloseTimeout"/>) while the send queue is full, so that a long replay is paced instead of dropped.
    /// </summary>
    private async ValueTask WaitForRoomAsync()
    {
        while (!_closing && _sendQueue.Reader.Count >= _settings.SendQueueCapacity)
        {
            var room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _roomWaiter, room);
            if (_sendQueue.Reader.Count < _settings.SendQueueCapacity) return;
            try
            {
                await room.Task.WaitAsync(CloseTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;   // the client does not read: the queue's policy decides
            }
        }
    }

    private ValueTask DeliverLiveAsync(GroupMessage message)
    {
        var membership = MembershipOf(message.Group);
        if (membership is null) return ValueTask.CompletedTask;
        if (membership.Joining)
        {
            (membership.Pending ??= []).Add(message);
            return ValueTask.CompletedTask;
        }
        return DeliverAsync(membership, message);
    }

    private ValueTask DeliverAsync(Membership membership, GroupMessage message)
    {
        if (message.Offset <= membership.LastDelivered) return ValueTask.CompletedTask;
        membership.LastDelivered = message.Offset;
        return _consumer.OnGroupMessageAsync(message);
    }

    /// <summary>A text frame: protocol frames are handled here, the rest goes to the consumer.</summary>
    private async ValueTask ReceiveTextAsync(string text)
    {
        if (_consumer is JsonWebSocketConsumer json)
        {
            JsonElement root;
            try
            {
                root = JsonSerializer.Deserialize<JsonElement>(text);
            }
            catch (JsonException e)
            {
                LogInvalidJson(_logger, Id, ConsumerName, e.Message);
                Send(ProtocolFrames.Error($"invalid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})"), WebSocketMessageType.Text);
                return;
            }
            if (ProtocolFrames.KindOf(root) is { } kind) await HandleProtocolAsync(kind, root).ConfigureAwait(false);
            else await json.OnReceiveJsonAsync(root).ConfigureAwait(false);
            return;
        }
        if (ProtocolFrames.MayBeProtocol(text))
        {
            JsonElement root = default;
            try
            {
                root = JsonSerializer.Deserialize<JsonElement>(text);
            }
            catch (JsonException)
            {
                // Not JSON after all: an application frame.
            }
            if (ProtocolFrames.KindOf(root) is { } kind)
            {
                await HandleProtocolAsync(kind, root).ConfigureAwait(false);
                return;
            }
        }
        await _consumer.OnReceiveAsync(text).ConfigureAwait(false);
    }

    private async ValueTask HandleProtocolAsync(string kind, JsonElement frame)
    {
        switch (kind)
        {
            case "join":
                await JoinRequestedAsync(frame).ConfigureAwait(false);
                break;
            case "leave":
                if (GroupOf(frame) is { } group) await RemoveFromGroupAsync(group, notify: true).ConfigureAwait(false);
                else SendError("'leave' needs a valid 'group'");
                break;
            case "resume":
                await ResumeAsync(frame).ConfigureAwait(false);
                break;
            default:
                SendError($"unknown frame '{kind}'");
                break;
        }
    }

    private async ValueTask JoinRequestedAsync(JsonElement frame)
    {
        if (GroupOf(frame) is not { } group)
        {
            var name = frame.TryGetProperty("group", out var g) && g.ValueKind == JsonValueKind.String ? g.GetString() ?? "" : "";
            Send(ProtocolFrames.Refused(name, "invalid group name"), WebSocketMessageType.Text);
            return;
        }
        long? after = frame.TryGetProperty("after", out var a) && a.ValueKind == JsonValueKind.Number && a.TryGetInt64(out var offset) ? offset : null;
        if (MembershipOf(group) is { } existing)
        {
            if (!existing.Joining) Send(ProtocolFrames.Joined(group, existing.LastDelivered), WebSocketMessageType.Text);
            return;
        }
        if (!await _consumer.OnJoinRequestAsync(group).ConfigureAwait(false))
        {
            Send(ProtocolFrames.Refused(group, "not allowed"), WebSocketMessageType.Text);
            return;
        }
        await AddToGroupAsync(group, after, HttpContext.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>{"celeriac":"resume","groups":{"time":41}}</c>: for each group this connection is in, replays what came after
    /// the offset (the client lost it, e.g. to a full send queue), or sends <c>reload</c> when it is no longer kept.
    /// </summary>
    private async ValueTask ResumeAsync(JsonElement frame)
    {
        if (!frame.TryGetProperty("groups", out var groups) || groups.ValueKind != JsonValueKind.Object)
        {
            SendError("'resume' needs 'groups': {\"group\": offset}");
            return;
        }
        foreach (var entry in groups.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt64(out var after)) continue;
            var membership = MembershipOf(entry.Name);
            if (membership is not { Joining: false }) continue;
            var history = await Layer.ReadHistoryAsync(entry.Name, after).ConfigureAwait(false);
            if (!history.Complete)
            {
                membership.LastDelivered = Math.Max(membership.LastDelivered, history.LastOffset);
                membership.LastForwarded = membership.LastDelivered;
                Send(ProtocolFrames.Reload(entry.Name, history.LastOffset), WebSocketMessageType.Text);
                continue;
            }
            // The client has everything up to `after`: the replay's first forwarded message follows it.
            membership.LastForwarded = after;
            foreach (var message in history.Messages)
            {
                await WaitForRoomAsync().ConfigureAwait(false);
                if (!IsCurrent(entry.Name, membership)) break;
                membership.LastDelivered = Math.Max(membership.LastDelivered, message.Offset);
                await _consumer.OnGroupMessageAsync(message).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Queues a <c>message</c> frame whose <c>prev</c> is what this connection last forwarded for its group.</summary>
    internal void Forward(GroupMessage message)
    {
        long prev;
        lock (_gate)
        {
            var membership = _groups.GetValueOrDefault(message.Group);
            prev = membership?.LastForwarded ?? 0;
            if (membership is not null) membership.LastForwarded = message.Offset;
        }
        Send(ProtocolFrames.Message(message, prev), WebSocketMessageType.Text);
    }

    private static string? GroupOf(JsonElement frame) =>
        frame.TryGetProperty("group", out var group) && group.ValueKind == JsonValueKind.String && group.GetString() is { } name && ChannelGroups.IsValidName(name) ? name : null;

    private void SendError(string reason) => Send(ProtocolFrames.Error(reason), WebSocketMessageType.Text);

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} ({Consumer}) sent a frame that is not JSON: {Reason}")]
    private static partial void LogInvalidJson(ILogger logger, string connection, string consumer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} could not leave group {Group}")]
    private static partial void LogLeaveFailed(ILogger logger, Exception exception, string connection, string group);
}
