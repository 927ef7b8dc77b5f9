using System.Text.Json;
using Celeriac;

namespace CleanEnergy.Web;

/// <summary>
/// <c>/ws/chat/{room}</c> (login required): one chat room, the WebSocket group <c>chat.{room}</c>.
/// <list type="bullet">
/// <item>The client sends <c>{ "text": "…" }</c>; the room gets <c>{ type: "chat.message", room, userName, name, text, at }</c>
/// with the sender taken from the login cookie (never from the client) and the server's time.</item>
/// <item>On connect the client first gets <c>{ type: "chat.history", room, messages: [{ offset, message }] }</c>: the
/// room's recent messages from the channel layer's group history (<c>Celeriac:Channels:HistoryLength</c> messages,
/// kept <c>HistoryWindow</c> after the last one; this app sets an hour). The connection joins the group before the
/// history is read, and every message carries its group offset, so the page drops a message it already has and none
/// is missed in between.</item>
/// </list>
/// An invalid room name is refused before the upgrade (HTTP 403).
/// </summary>
internal sealed class ChatConsumer(IChannelLayer channels, TimeProvider time) : JsonWebSocketConsumer
{
    private string _room = "";
    private string _group = "";
    private string _userName = "";
    private string _name = "";

    public override async ValueTask OnConnectAsync()
    {
        if (RouteValues["room"] is not string room || !ChatRooms.IsValid(room)) return;   // not accepted: 403
        _room = room;
        _group = ChatRooms.GroupOf(room);
        _userName = EnergyClaims.UserName(User);
        _name = EnergyClaims.DisplayName(User);
        await AcceptAsync();
        await AddToGroupAsync(_group);
        var history = await channels.ReadHistoryAsync(_group, 0, HttpContext.RequestAborted);
        await SendJsonAsync(new
        {
            type = "chat.history",
            room = _room,
            messages = history.Messages.Where(m => m.Type == ChatRooms.MessageType).Select(m => new { offset = m.Offset, message = m.Message }),
        });
    }

    public override async ValueTask OnReceiveJsonAsync(JsonElement message)
    {
        if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("text", out var property) || property.ValueKind != JsonValueKind.String)
        {
            await SendJsonAsync(new { type = "chat.error", reason = "Send {\"text\": \"…\"}." });
            return;
        }
        var text = property.GetString()!.Trim();
        if (text.Length == 0) return;
        if (text.Length > ChatRooms.MaxTextLength)
        {
            await SendJsonAsync(new { type = "chat.error", reason = $"A message has at most {ChatRooms.MaxTextLength} characters." });
            return;
        }
        await GroupSendAsync(_group, new { type = ChatRooms.MessageType, room = _room, userName = _userName, name = _name, text, at = time.GetUtcNow() });
    }
}
