using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Celeriac.AspNetCore.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.AspNetCore.Tests;

public sealed class ConsumerTests
{
    private static Task<TestApp> StartAsync() => TestApp.StartAsync(app =>
    {
        app.MapConsumer<CommandConsumer>("/ws/cmd");
        app.MapConsumer<CommandConsumer>("/ws/chat/{room}");
        app.MapConsumer<CommandConsumer>("/ws/secure").RequireAuthorization();
        app.MapConsumer<CommandConsumer>("/ws/small", o => o.MaxMessageBytes = 1024);
        app.MapConsumer<CommandConsumer>("/ws/partner", o => o.AllowedOrigins = ["https://partner.example"]);
        app.MapConsumer<RefusingConsumer>("/ws/refuse");
        app.MapConsumer<PersonalConsumer>("/ws/personal").RequireAuthorization();
        app.MapConsumer<DispatchConsumer>("/ws/dispatch");
        app.MapConsumer<DerivedDispatchConsumer>("/ws/derived");
    });

    [Fact]
    public async Task Accepts_and_echoes_text_and_binary()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/cmd?tag=a");
        await client.SendAsync("hello");
        Assert.Equal("echo:hello", await client.ReceiveAsync());
        await client.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var buffer = new byte[16];
        var result = await client.Socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer[..result.Count]);
        Assert.Contains("connect:a", app.Probe.Events);
    }

    [Fact]
    public async Task A_consumer_that_does_not_accept_refuses_with_403()
    {
        await using var app = await StartAsync();
        Assert.Equal(HttpStatusCode.Forbidden, await app.RefusedStatusAsync("/ws/refuse"));
        Assert.Equal(HttpStatusCode.Forbidden, await app.RefusedStatusAsync("/ws/refuse?close=1"));
        Assert.Equal(2, app.Probe.Events.Count(e => e == "refusing"));
        Assert.DoesNotContain("refused-disconnect", app.Probe.Events);
    }

    [Fact]
    public async Task Route_values_reach_the_consumer()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/chat/lobby");
        await client.SendAsync("route");
        Assert.Equal("room=lobby", await client.ReceiveAsync());
    }

    [Fact]
    public async Task RequireAuthorization_refuses_anonymous_with_401_and_gives_the_consumer_the_user()
    {
        await using var app = await StartAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, await app.RefusedStatusAsync("/ws/secure"));
        await using var client = await app.ConnectAsync("/ws/secure", o => o.SetRequestHeader("X-Test-User", "alice"));
        await client.SendAsync("user");
        Assert.Equal("user=alice", await client.ReceiveAsync());
    }

    [Fact]
    public async Task A_user_may_join_only_their_personal_group()
    {
        await using var app = await StartAsync();
        await using var alice = await app.ConnectAsync("/ws/personal", o => o.SetRequestHeader("X-Test-User", "alice"));

        await alice.SendJsonAsync(new { celeriac = "join", group = "user_alice" });
        var joined = await alice.ReceiveJsonAsync();
        Assert.Equal("joined", joined.GetProperty("celeriac").GetString());
        Assert.Equal("user_alice", joined.GetProperty("group").GetString());
        Assert.Equal(0, joined.GetProperty("offset").GetInt64());

        await alice.SendJsonAsync(new { celeriac = "join", group = "user_bob" });
        var refused = await alice.ReceiveJsonAsync();
        Assert.Equal("refused", refused.GetProperty("celeriac").GetString());
        Assert.Equal("user_bob", refused.GetProperty("group").GetString());

        await app.Layer.GroupSendAsync("user_bob", new { type = "account.changed", secret = "bob's" });
        await app.Layer.GroupSendAsync("user_alice", new { type = "account.changed", email = "alice@example.com" });
        var message = await alice.ReceiveJsonAsync();
        Assert.Equal("message", message.GetProperty("celeriac").GetString());
        Assert.Equal("user_alice", message.GetProperty("group").GetString());
        Assert.Equal(1, message.GetProperty("offset").GetInt64());
        Assert.Equal("alice@example.com", message.GetProperty("message").GetProperty("email").GetString());

        // Application frames still reach OnReceiveJsonAsync; protocol frames never do.
        await alice.SendJsonAsync(new { hello = "world" });
        Assert.Equal("world", (await alice.ReceiveJsonAsync()).GetProperty("echo").GetProperty("hello").GetString());
        await app.WaitForMembersAsync("user_alice", 1);
        Assert.Equal("alice", Assert.Single(await app.Layer.GetMembersAsync("user_alice")).User);
        Assert.Empty(await app.Layer.GetMembersAsync("user_bob"));
    }

    [Fact]
    public async Task Group_messages_dispatch_by_type_to_handlers_or_are_forwarded()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/dispatch");
        Assert.Equal("joined", (await client.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        await app.Layer.GroupSendAsync("dispatch", new { type = "chat.message", text = "hi" });
        await app.Layer.GroupSendAsync("dispatch", new { type = "news.flash" });
        await app.Layer.GroupSendAsync("dispatch", new { type = "news.update" });
        await app.Layer.GroupSendAsync("dispatch", new { type = "user.joined", name = "bob" });
        await app.Layer.GroupSendAsync("dispatch", new { type = "ping" });
        await app.Layer.GroupSendAsync("dispatch", new { type = "other.thing", n = 6 });

        Assert.Equal("chat:hi", await client.ReceiveAsync());
        Assert.Equal("flash:news.flash:2", await client.ReceiveAsync());
        Assert.Equal("flash:news.update:3", await client.ReceiveAsync());
        Assert.Equal("user-joined:bob", await client.ReceiveAsync());
        Assert.Equal("pong", await client.ReceiveAsync());
        var forwarded = await client.ReceiveJsonAsync();
        Assert.Equal("message", forwarded.GetProperty("celeriac").GetString());
        Assert.Equal("dispatch", forwarded.GetProperty("group").GetString());
        Assert.Equal(6, forwarded.GetProperty("offset").GetInt64());
        Assert.Equal("other.thing", forwarded.GetProperty("message").GetProperty("type").GetString());
        Assert.Equal(6, forwarded.GetProperty("message").GetProperty("n").GetInt32());

        await using var derived = await app.ConnectAsync("/ws/derived");
        await derived.ReceiveJsonAsync();
        await app.Layer.GroupSendAsync("dispatch", new { type = "chat.message", text = "again" });
        Assert.Equal("derived-chat", await derived.ReceiveAsync());
    }

    [Fact]
    public async Task A_connection_removed_from_a_group_gets_no_more_of_its_messages()
    {
        await using var app = await StartAsync();
        await using var a = await app.ConnectAsync("/ws/cmd");
        await using var b = await app.ConnectAsync("/ws/cmd?group=g1");
        Assert.Equal("joined", (await b.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        await a.SendAsync("join g1");
        var joined = await a.ReceiveJsonAsync();
        Assert.Equal("joined", joined.GetProperty("celeriac").GetString());
        await a.SendAsync("groups");
        Assert.Equal("groups=g1", await a.ReceiveAsync());

        await app.Layer.GroupSendAsync("g1", new { type = "m", n = 1 });
        Assert.Equal(1, (await a.ReceiveJsonAsync()).GetProperty("offset").GetInt64());
        Assert.Equal(1, (await b.ReceiveJsonAsync()).GetProperty("offset").GetInt64());

        await a.SendAsync("leave g1");
        var left = await a.ReceiveJsonAsync();
        Assert.Equal("left", left.GetProperty("celeriac").GetString());
        Assert.Equal("g1", left.GetProperty("group").GetString());

        await app.Layer.GroupSendAsync("g1", new { type = "m", n = 2 });
        // b shares the node's subscription of g1: once it has message 2, a would have had it queued before "groups".
        Assert.Equal(2, (await b.ReceiveJsonAsync()).GetProperty("offset").GetInt64());
        await a.SendAsync("groups");
        Assert.Equal("groups=", await a.ReceiveAsync());
    }

    [Fact]
    public async Task Close_codes_reach_both_sides()
    {
        await using var app = await StartAsync();

        await using (var closed = await app.ConnectAsync("/ws/cmd?tag=server"))
        {
            await closed.SendAsync("close 4001 bye");
            Assert.Equal((WebSocketCloseStatus)4001, await closed.ReceiveCloseAsync());
            Assert.Equal("bye", closed.Socket.CloseStatusDescription);
        }
        await app.Probe.WaitForAsync(e => e == "disconnect:server:4001");

        await using (var closing = await app.ConnectAsync("/ws/cmd?tag=client"))
        {
            await closing.Socket.CloseAsync((WebSocketCloseStatus)4002, "done", CancellationToken.None);
            Assert.Equal((WebSocketCloseStatus)4002, closing.Socket.CloseStatus);
        }
        await app.Probe.WaitForAsync(e => e == "disconnect:client:4002");

        await using (var failing = await app.ConnectAsync("/ws/cmd?tag=error"))
        {
            await failing.SendAsync("throw");
            Assert.Equal(WebSocketCloseStatus.InternalServerError, await failing.ReceiveCloseAsync());
        }
        await app.Probe.WaitForAsync(e => e == "disconnect:error:1011");
        Assert.Contains(app.Logs.Entries, e => e.Exception is InvalidOperationException { Message: "boom" });
    }

    [Fact]
    public async Task Server_shutdown_closes_connections_with_1001_and_they_leave_their_groups()
    {
        var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/cmd?tag=s&group=shutdown");
        await client.ReceiveJsonAsync();
        await app.WaitForMembersAsync("shutdown", 1);
        var layer = app.Layer;
        var probe = app.Probe;

        var stopping = app.DisposeAsync();
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await client.ReceiveCloseAsync());
        await stopping;
        await probe.WaitForAsync(e => e == "disconnect:s:1001");
        Assert.Empty(await layer.GetMembersAsync("shutdown"));
    }

    [Fact]
    public async Task A_message_over_the_limit_closes_with_1009()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/small");
        var fits = new string('a', 1024 - "x".Length);
        await client.SendAsync("x" + fits);
        Assert.Equal("echo:x" + fits, await client.ReceiveAsync());
        await client.SendAsync(new string('b', 2000));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await client.ReceiveCloseAsync());
    }

    [Fact]
    public async Task Browser_origins_other_than_the_requests_own_are_refused_unless_allowed()
    {
        await using var app = await StartAsync();
        Assert.Equal(HttpStatusCode.Forbidden, await app.RefusedStatusAsync("/ws/cmd", o => o.SetRequestHeader("Origin", "http://evil.example")));
        Assert.Equal(HttpStatusCode.Forbidden, await app.RefusedStatusAsync("/ws/partner", o => o.SetRequestHeader("Origin", "http://evil.example")));

        var own = $"http://{app.Http.Authority}";
        await using (var same = await app.ConnectAsync("/ws/cmd", o => o.SetRequestHeader("Origin", own))) Assert.Equal(WebSocketState.Open, same.Socket.State);
        await using (var partner = await app.ConnectAsync("/ws/partner", o => o.SetRequestHeader("Origin", "https://partner.example"))) Assert.Equal(WebSocketState.Open, partner.Socket.State);
        await using (var noOrigin = await app.ConnectAsync("/ws/cmd")) Assert.Equal(WebSocketState.Open, noOrigin.Socket.State);
    }

    [Fact]
    public async Task A_request_that_is_not_a_websocket_gets_400()
    {
        await using var app = await StartAsync();
        using var http = new HttpClient { BaseAddress = app.Http };
        var response = await http.GetAsync(new Uri("/ws/cmd", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("WebSocket", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_consumers_answer_invalid_json_with_an_error_frame_and_stay_open()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/personal", o => o.SetRequestHeader("X-Test-User", "carol"));
        await client.SendAsync("{not json");
        var error = await client.ReceiveJsonAsync();
        Assert.Equal("error", error.GetProperty("celeriac").GetString());
        Assert.Contains("invalid JSON", error.GetProperty("reason").GetString(), StringComparison.Ordinal);

        await client.SendJsonAsync(new { celeriac = "bogus" });
        Assert.Contains("unknown frame", (await client.ReceiveJsonAsync()).GetProperty("reason").GetString(), StringComparison.Ordinal);

        await client.SendAsync("[1,2]");
        Assert.Equal(JsonValueKind.Array, (await client.ReceiveJsonAsync()).GetProperty("echo").ValueKind);
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains("not JSON", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Protocol_frames_never_reach_OnReceiveAsync_of_a_text_consumer()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/cmd");
        await client.SendAsync("""{"celeriac":"join","group":"anything"}""");
        var refused = await client.ReceiveJsonAsync();
        Assert.Equal("refused", refused.GetProperty("celeriac").GetString());
        await client.SendAsync("""{"celeriac":"join","group":"bad name!"}""");
        Assert.Equal("invalid group name", (await client.ReceiveJsonAsync()).GetProperty("reason").GetString());
        await client.SendAsync("""{"app":"celeriac"}""");
        Assert.Equal("""echo:{"app":"celeriac"}""", await client.ReceiveAsync());
        await client.SendAsync("{celeriac");
        Assert.Equal("echo:{celeriac", await client.ReceiveAsync());
    }

    [Fact]
    public async Task The_javascript_client_is_served_with_an_etag_or_404_when_not_embedded()
    {
        await using var app = await TestApp.StartAsync(a => a.MapCeleriacClient());
        using var http = new HttpClient { BaseAddress = app.Http };
        var response = await http.GetAsync(new Uri("/_celeriac/celeriac.js", UriKind.Relative));
        if (CeleriacClientScript.Instance is null)
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("celeriac.js is not embedded", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            return;
        }
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/javascript", response.Content.Headers.ContentType?.MediaType);
        var etag = response.Headers.ETag;
        Assert.NotNull(etag);
        Assert.True(response.Headers.CacheControl?.NoCache);
        Assert.Equal(CeleriacClientScript.Instance.Content, await response.Content.ReadAsByteArrayAsync());

        using var again = new HttpRequestMessage(HttpMethod.Get, "/_celeriac/celeriac.js");
        again.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(again)).StatusCode);
    }

    [Fact]
    public async Task A_misdeclared_group_handler_fails_at_MapConsumer()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => TestApp.StartAsync(app => app.MapConsumer<MisdeclaredConsumer>("/ws/bad")));
        Assert.Contains("MisdeclaredConsumer.Handle", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("chat.message", "ChatMessage")]
    [InlineData("chat_message", "ChatMessage")]
    [InlineData("user.joined-room", "UserJoinedRoom")]
    [InlineData("tick", "Tick")]
    [InlineData("...", "")]
    public void Types_map_to_method_names_in_PascalCase(string type, string method) =>
        Assert.Equal(method, GroupHandlers.MethodNameOf(type));

    [Fact]
    public async Task Consumer_members_are_unavailable_in_the_constructor_and_options_are_checked()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new DispatchConsumer().HttpContext);
        Assert.Contains("OnConnectAsync", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => TestApp.StartAsync(app => app.MapConsumer<CommandConsumer>("/ws/x", o => o.SendQueueCapacity = 0)));
        var bad = await Assert.ThrowsAnyAsync<Exception>(() => TestApp.StartAsync(app => { }, channels: o => o.MaxMessageBytes = -1));
        Assert.Contains("MaxMessageBytes", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_consumer_gets_constructor_injection_from_a_scope_that_lives_as_long_as_its_connection()
    {
        await using var app = await TestApp.StartAsync(
            a => a.MapConsumer<ScopedConsumer>("/ws/scoped"),
            services => services.AddScoped<ConnectionScoped>());
        string id;
        await using (var client = await app.ConnectAsync("/ws/scoped"))
        {
            var ids = (await client.ReceiveAsync())!.Split(' ');
            Assert.Equal(ids[0], ids[1]);
            id = ids[0];
            Assert.DoesNotContain($"scope-disposed:{id}", app.Probe.Events);
            await client.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        await app.Probe.WaitForAsync(e => e == $"scope-disposed:{id}");
    }
}
