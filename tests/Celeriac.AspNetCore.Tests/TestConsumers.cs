using System.Net.WebSockets;
using System.Text.Json;

namespace Celeriac.AspNetCore.Tests;

/// <summary>Does what the client's text frames say; reports connect and disconnect to the probe (constructor injection).</summary>
internal sealed class CommandConsumer(Probe probe) : WebSocketConsumer
{
    private string Tag => HttpContext.Request.Query["tag"].ToString();

    public override async ValueTask OnConnectAsync()
    {
        probe.Add($"connect:{Tag}");
        await AcceptAsync();
        if (HttpContext.Request.Query["group"].ToString() is { Length: > 0 } group) await AddToGroupAsync(group);
    }

    public override async ValueTask OnReceiveAsync(string text)
    {
        var parts = text.Split(' ');
        switch (parts[0])
        {
            case "route":
                await SendAsync($"room={RouteValues["room"]}");
                break;
            case "user":
                await SendAsync($"user={User.Identity?.Name}");
                break;
            case "join":
                await AddToGroupAsync(parts[1]);
                break;
            case "leave":
                await RemoveFromGroupAsync(parts[1]);
                break;
            case "groups":
                await SendAsync("groups=" + string.Join(",", Groups.Order(StringComparer.Ordinal)));
                break;
            case "close":
                await CloseAsync((WebSocketCloseStatus)int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), parts[2]);
                break;
            case "throw":
                throw new InvalidOperationException("boom");
            case "flood":
                var count = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                var size = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                for (var i = 0; i < count; i++) await SendAsync(new byte[size]);
                break;
            default:
                await SendAsync("echo:" + text);
                break;
        }
    }

    public override ValueTask OnReceiveAsync(ReadOnlyMemory<byte> binary) => SendAsync(binary);

    public override ValueTask OnDisconnectAsync(WebSocketCloseStatus? status)
    {
        probe.Add($"disconnect:{Tag}:{(int?)status}");
        return ValueTask.CompletedTask;
    }
}

/// <summary>Refuses every connection (optionally by closing before accepting).</summary>
internal sealed class RefusingConsumer(Probe probe) : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        probe.Add("refusing");
        if (HttpContext.Request.Query.ContainsKey("close")) await CloseAsync();
    }

    public override ValueTask OnDisconnectAsync(WebSocketCloseStatus? status)
    {
        probe.Add("refused-disconnect");
        return ValueTask.CompletedTask;
    }
}

/// <summary>Joins the route's room; any group may be joined by the client.</summary>
internal sealed class RoomConsumer : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync((string)RouteValues["room"]!);
    }

    public override ValueTask<bool> OnJoinRequestAsync(string group) => ValueTask.FromResult(true);

    public override ValueTask OnReceiveAsync(string text) => SendAsync("app:" + text);
}

/// <summary>A user's own group only: <c>user_{name}</c>.</summary>
internal sealed class PersonalConsumer : JsonWebSocketConsumer
{
    public override ValueTask<bool> OnJoinRequestAsync(string group) => ValueTask.FromResult(group == $"user_{User.Identity!.Name}");

    public override ValueTask OnReceiveJsonAsync(JsonElement message) => SendJsonAsync(new { echo = message });
}

/// <summary>Group handlers by convention, by attribute, and the forwarding fallback.</summary>
internal class DispatchConsumer : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync("dispatch");
    }

    public Task ChatMessage(GroupMessage message) => SendAsync("chat:" + message.Message.GetProperty("text").GetString()).AsTask();

    protected async Task UserJoinedAsync(GroupMessage message) => await SendAsync("user-joined:" + message.Message.GetProperty("name").GetString());

    [GroupHandler("news.flash")]
    [GroupHandler("news.update")]
    private ValueTask Flash(GroupMessage message) => SendAsync($"flash:{message.Type}:{message.Offset}");

    private void Ping(GroupMessage message) => _ = SendAsync("pong");
}

/// <summary>A derived consumer's handler wins over the base's.</summary>
internal sealed class DerivedDispatchConsumer : DispatchConsumer
{
    public new Task ChatMessage(GroupMessage message) => SendAsync("derived-chat").AsTask();
}

internal sealed class MisdeclaredConsumer : WebSocketConsumer
{
    [GroupHandler("chat.message")]
    public void Handle(string text) => _ = text;
}

/// <summary>A scoped service: one per connection, disposed when it ends.</summary>
internal sealed class ConnectionScoped(Probe probe) : IDisposable
{
    public string Id { get; } = Guid.NewGuid().ToString("N");

    public void Dispose() => probe.Add($"scope-disposed:{Id}");
}

/// <summary>Takes a scoped service in its constructor.</summary>
internal sealed class ScopedConsumer(ConnectionScoped scoped) : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        var fromRequest = (ConnectionScoped)HttpContext.RequestServices.GetService(typeof(ConnectionScoped))!;
        await SendAsync($"{scoped.Id} {fromRequest.Id}");
    }
}

/// <summary>Forwards only the messages whose <c>keep</c> is true: the client must not see the skipped ones as a gap.</summary>
internal sealed class FilteringConsumer : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync("filtered");
    }

    public override ValueTask OnGroupMessageAsync(GroupMessage message) =>
        message.Message.GetProperty("keep").GetBoolean() ? ForwardAsync(message) : ValueTask.CompletedTask;
}

/// <summary>The chat pattern: join the room, then tell the room (the joining connection included).</summary>
internal sealed class GreetingConsumer : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync("greet");
        await GroupSendAsync("greet", new { type = "user.joined", connection = ConnectionId });
    }
}
