using System.Net.WebSockets;
using System.Security.Claims;
using Celeriac.AspNetCore.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Celeriac;

/// <summary>
/// Handles one WebSocket connection, as a Django Channels consumer does: map it with <c>app.MapConsumer&lt;T&gt;(pattern)</c>.
/// </summary>
/// <remarks>
/// <para>
/// One instance per connection, created from the request's services (constructor injection works; scoped services
/// live as long as the connection). <see cref="HttpContext"/> and the other members are available from
/// <see cref="OnConnectAsync"/> on, not in the constructor.
/// </para>
/// <para>
/// The handlers run one at a time, in the order their events arrived: <see cref="OnConnectAsync"/>, then client
/// frames (<see cref="OnReceiveAsync(string)"/>), group messages (<see cref="OnGroupMessageAsync"/>) and client
/// <c>join</c> requests (<see cref="OnJoinRequestAsync"/>), and last <see cref="OnDisconnectAsync"/>. Sends never wait
/// for the client: frames go to the connection's bounded send queue (<see cref="ConsumerOptions.SendQueueCapacity"/>).
/// An exception from a handler is logged and closes the connection with 1011. Text frames that are JSON objects with
/// a <c>celeriac</c> property belong to the wire protocol (docs/channels.md) and never reach the handlers.
/// </para>
/// </remarks>
public abstract class WebSocketConsumer
{
    private ConsumerConnection? _connection;

    internal ConsumerConnection Connection =>
        _connection ?? throw new InvalidOperationException("The consumer is not connected yet: its members are available from OnConnectAsync on, not in the constructor.");

    internal void Attach(ConsumerConnection connection) => _connection = connection;

    /// <summary>The WebSocket request.</summary>
    public HttpContext HttpContext => Connection.HttpContext;

    /// <summary>The request's user (authenticated when the endpoint requires authorization).</summary>
    public ClaimsPrincipal User => Connection.HttpContext.User;

    /// <summary>The route values of the request, e.g. <c>room</c> for <c>/ws/chat/{room}</c>.</summary>
    public RouteValueDictionary RouteValues => Connection.HttpContext.Request.RouteValues;

    /// <summary>This connection's id, unique in the process and listed in the channel layer's group members.</summary>
    public string ConnectionId => Connection.Id;

    /// <summary>The groups this connection is in now.</summary>
    public IReadOnlyCollection<string> Groups => Connection.GroupNames();

    /// <summary>
    /// Called first, before the WebSocket is accepted. The default accepts. Return without calling
    /// <see cref="AcceptAsync"/> (or call <see cref="CloseAsync"/> before it) to refuse: the client gets HTTP 403.
    /// Groups joined here (<see cref="AddToGroupAsync"/>) resume from the client's <c>celeriac-resume</c> offsets.
    /// </summary>
    public virtual ValueTask OnConnectAsync() => AcceptAsync();

    /// <summary>A text frame from the client (protocol frames excluded). The default ignores it.</summary>
    /// <param name="text">The whole message.</param>
    public virtual ValueTask OnReceiveAsync(string text) => ValueTask.CompletedTask;

    /// <summary>A binary frame from the client. The default ignores it.</summary>
    /// <param name="binary">The whole message; the consumer may keep it.</param>
    public virtual ValueTask OnReceiveAsync(ReadOnlyMemory<byte> binary) => ValueTask.CompletedTask;

    /// <summary>
    /// Called once after an accepted connection closed, however it closed; the connection then leaves all its groups.
    /// </summary>
    /// <param name="status">The close code (the client's when it closed, the server's when the server did); null when the connection was lost without a close handshake.</param>
    public virtual ValueTask OnDisconnectAsync(WebSocketCloseStatus? status) => ValueTask.CompletedTask;

    /// <summary>
    /// The client asked to join <paramref name="group"/> (a <c>join</c> frame): return true to add it (it gets
    /// <c>joined</c>, after a replay when it asked for one), false to refuse (it gets <c>refused</c>). The default refuses.
    /// </summary>
    /// <param name="group">A valid group name.</param>
    public virtual ValueTask<bool> OnJoinRequestAsync(string group) => ValueTask.FromResult(false);

    /// <summary>
    /// A message sent to one of this connection's groups (live, or replayed for a resuming client; each offset once and
    /// in order per group). The default calls the handler for its <see cref="GroupMessage.Type"/>: a method marked
    /// <see cref="GroupHandlerAttribute"/>, else a method named after the type (<c>chat.message</c> →
    /// <c>ChatMessage</c> or <c>ChatMessageAsync</c>) that takes a <see cref="GroupMessage"/>; without one it
    /// forwards the message to the client (<see cref="ForwardAsync"/>).
    /// </summary>
    /// <param name="message">The message.</param>
    public virtual ValueTask OnGroupMessageAsync(GroupMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Connection.Handlers.Find(message.Type) is { } handler ? handler(this, message) : ForwardAsync(message);
    }

    /// <summary>Accepts the WebSocket (in <see cref="OnConnectAsync"/>).</summary>
    /// <param name="subProtocol">The sub-protocol to answer with, one the client offered; null for none.</param>
    public ValueTask AcceptAsync(string? subProtocol = null) => Connection.AcceptAsync(subProtocol);

    /// <summary>
    /// Closes the connection after the frames already queued are sent; <see cref="OnDisconnectAsync"/> follows and no
    /// other handler is called after this. Before <see cref="AcceptAsync"/>, refuses it (HTTP 403): a connection that
    /// was never accepted gets no <see cref="OnDisconnectAsync"/>.
    /// </summary>
    /// <param name="status">The close code: a standard one or 3000–4999 for the application.</param>
    /// <param name="reason">A short reason, at most 123 UTF-8 bytes.</param>
    public ValueTask CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure, string? reason = null)
    {
        Connection.Close(status, reason);
        return ValueTask.CompletedTask;
    }

    /// <summary>Queues a text frame. Never waits for the client; after the connection closed, does nothing.</summary>
    /// <param name="text">The frame.</param>
    public ValueTask SendAsync(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Connection.SendText(System.Text.Encoding.UTF8.GetBytes(text));
        return ValueTask.CompletedTask;
    }

    /// <summary>Queues a binary frame (a copy of <paramref name="binary"/>). Never waits for the client.</summary>
    /// <param name="binary">The frame.</param>
    public ValueTask SendAsync(ReadOnlyMemory<byte> binary)
    {
        Connection.Send(binary.ToArray(), WebSocketMessageType.Binary);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Adds this connection to <paramref name="group"/>: it gets the group's messages (in this and every other process
    /// sharing the channel layer) until it leaves or closes, and the client gets <c>joined</c>. When the client
    /// connected with a <c>celeriac-resume</c> offset for this group, what it missed is replayed first (through
    /// <see cref="OnGroupMessageAsync"/>). Subscribing is done when this returns; the replay and <c>joined</c> follow
    /// as the connection's next event, after the current handler. Adding a group the connection is in does nothing.
    /// </summary>
    /// <param name="group">1–100 ASCII letters, digits, <c>-</c>, <c>_</c> or <c>.</c>.</param>
    /// <param name="cancellationToken">Cancels subscribing to the group.</param>
    public ValueTask AddToGroupAsync(string group, CancellationToken cancellationToken = default) =>
        Connection.AddToGroupAsync(group, after: null, cancellationToken);

    /// <summary>Removes this connection from <paramref name="group"/>; the client gets <c>left</c>.</summary>
    /// <param name="group">The group.</param>
    /// <param name="cancellationToken">Not used: leaving is local to this process (the group's subscription ends when its last local member leaves).</param>
    public ValueTask RemoveFromGroupAsync(string group, CancellationToken cancellationToken = default) =>
        Connection.RemoveFromGroupAsync(group, notify: true);

    /// <summary>
    /// Sends <paramref name="message"/> to every member of <paramref name="group"/>, this connection included when it
    /// is one (see <see cref="IChannelLayer.GroupSendAsync"/>).
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="message">An object serializing to JSON with a string <c>type</c>, e.g. <c>new { type = "chat.message", text }</c>.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default) =>
        Connection.Layer.GroupSendAsync(group, message, cancellationToken);

    /// <summary>
    /// Queues the protocol's <c>message</c> frame for <paramref name="message"/>:
    /// <c>{"celeriac":"message","prev":…,"group":…,"offset":…,"message":{…}}</c>. A handler may forward some messages of
    /// a group and not others (or a changed copy, keeping its group and offset): <c>prev</c> tells the client what to expect.
    /// </summary>
    /// <param name="message">A message of one of this connection's groups.</param>
    public ValueTask ForwardAsync(GroupMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Connection.Forward(message);
        return ValueTask.CompletedTask;
    }
}
