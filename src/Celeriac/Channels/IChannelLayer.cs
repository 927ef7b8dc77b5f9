using System.Text.Json;

namespace Celeriac;

/// <summary>
/// Groups of WebSocket connections across processes (the channel layer). Any process (a worker, the scheduler, a web
/// process) sends to a group; every web process holding members of it delivers the message to them. Each group keeps a
/// short history with increasing offsets, so a client that reconnects soon gets exactly what it missed.
/// </summary>
/// <remarks>
/// The in-memory layer serves one process; <c>UseSqlite</c> replaces it with one shared by the processes on the same
/// file (one machine), <c>UseRedis</c> with one shared by every process on the Redis.
/// Group names are 1–100 ASCII letters, digits, <c>-</c>, <c>_</c> and <c>.</c> (as in Django Channels).
/// </remarks>
public interface IChannelLayer
{
    /// <summary>
    /// Sends <paramref name="message"/> to every member of <paramref name="group"/>. The message serializes (web JSON
    /// defaults) to a JSON object with a string <c>type</c> (<c>chat.message</c>), which picks the consumer's handler.
    /// It is appended to the group's history under the next offset, which is returned with it.
    /// </summary>
    /// <exception cref="ArgumentException">The group name is invalid, or the message has no <c>type</c>.</exception>
    /// <exception cref="MessageTooLargeException">The message is over <see cref="ChannelLayerOptions.MaxMessageBytes"/>.</exception>
    ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default);

    /// <summary>
    /// The messages of <paramref name="group"/> after offset <paramref name="afterOffset"/>, oldest first, from the
    /// bounded history. <see cref="GroupHistory.Complete"/> is false when some of them are no longer kept (the client
    /// must reload its state) or when <paramref name="afterOffset"/> is ahead of the group (the history was reset).
    /// </summary>
    ValueTask<GroupHistory> ReadHistoryAsync(string group, long afterOffset, CancellationToken cancellationToken = default);

    /// <summary>
    /// Calls <paramref name="onMessage"/> for each message sent to <paramref name="group"/> from now on, by any
    /// process, one at a time and in offset order, until the returned subscription is disposed. For web processes:
    /// subscribe while the process holds members of the group.
    /// </summary>
    ValueTask<IAsyncDisposable> SubscribeAsync(string group, Func<GroupMessage, ValueTask> onMessage, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces what node <paramref name="node"/> (a web process) holds: group → its members there. Kept for
    /// <paramref name="timeToLive"/>; a node reports again well before that while it lives, so the members of a
    /// process that died disappear on their own and members of a live one are never dropped.
    /// </summary>
    ValueTask ReportMembersAsync(string node, IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> members, TimeSpan timeToLive, CancellationToken cancellationToken = default);

    /// <summary>The members of <paramref name="group"/> in every live node, as last reported.</summary>
    ValueTask<IReadOnlyList<GroupMember>> GetMembersAsync(string group, CancellationToken cancellationToken = default);
}

/// <summary>A message sent to a group.</summary>
/// <param name="Group">The group.</param>
/// <param name="Offset">Its place in the group: 1, 2, 3, … with no gaps.</param>
/// <param name="Type">The message's <c>type</c>.</param>
/// <param name="Message">The whole message (a JSON object, <c>type</c> included).</param>
/// <param name="SentAt">When it was sent (the sender's clock).</param>
public sealed record GroupMessage(string Group, long Offset, string Type, JsonElement Message, DateTimeOffset SentAt);

/// <summary>History read for a reconnecting client.</summary>
/// <param name="Messages">Messages after the offset asked for, oldest first.</param>
/// <param name="Complete">False when messages after that offset are no longer kept: the client must reload its state.</param>
/// <param name="LastOffset">The group's newest offset (0 when nothing was sent yet).</param>
public sealed record GroupHistory(IReadOnlyList<GroupMessage> Messages, bool Complete, long LastOffset);

/// <summary>A connection in a group.</summary>
/// <param name="Node">The web process holding it.</param>
/// <param name="Connection">Its connection id.</param>
/// <param name="User">The authenticated user's name, if any.</param>
/// <param name="Since">When it joined.</param>
public sealed record GroupMember(string Node, string Connection, string? User, DateTimeOffset Since);

/// <summary>Settings of the channel layer (configuration section <c>Celeriac:Channels</c>).</summary>
public sealed class ChannelLayerOptions
{
    /// <summary>Messages kept per group for reconnecting clients. Default 100.</summary>
    public int HistoryLength { get; set; } = 100;

    /// <summary>How long a group's history is kept after its last message. Default 5 minutes.</summary>
    public TimeSpan HistoryWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Largest group message, as UTF-8 JSON. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;
}
