using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.AspNetCore.Tests;

/// <summary>Clients that stop reading: their kernel buffers fill, then their send queue.</summary>
public sealed class BackpressureTests
{
    private const int MaxSends = 2000;

    /// <summary>A ~60 KiB group message (under the layer's 64 KiB limit).</summary>
    private static readonly object Big = new { type = "big", data = new string('x', 60_000) };

    private static Task<TestApp> StartAsync() => TestApp.StartAsync(app =>
    {
        app.MapConsumer<CommandConsumer>("/ws/drop", o => o.SendQueueCapacity = 4);
        app.MapConsumer<CommandConsumer>("/ws/close", o =>
        {
            o.SendQueueCapacity = 4;
            o.WhenSendQueueFull = SendQueueFullMode.Close;
        });
        app.MapConsumer<CommandConsumer>("/ws/stall", o =>
        {
            o.SendQueueCapacity = 4;
            o.KeepAliveInterval = TimeSpan.Zero;
            o.SendTimeout = TimeSpan.FromSeconds(1);
        });
    });

    /// <summary>The room of the chat case: the default send queue (256 frames), a history long enough to resume from.</summary>
    private static Task<TestApp> StartRoomAsync(SendQueueFullMode whenFull) => TestApp.StartAsync(
        app => app.MapConsumer<CommandConsumer>("/ws/room", o => o.WhenSendQueueFull = whenFull),
        services => services.Configure<ChannelLayerOptions>(o => o.HistoryLength = 10_000));

    /// <summary>5,000 chat-sized messages (about 1 KB each) to <paramref name="group"/>, as fast as the layer takes them.</summary>
    private static async Task FloodAsync(TestApp app, string group, int count)
    {
        for (var i = 1; i <= count; i++)
            await app.Layer.GroupSendAsync(group, new { type = "chat.message", userName = "alice", text = $"message {i} " + new string('x', 1000) });
    }

    /// <summary>Sends big messages to <paramref name="group"/> until the server logs <paramref name="logged"/>; returns how many.</summary>
    private static async Task<int> SendUntilLoggedAsync(TestApp app, string group, string logged)
    {
        for (var sent = 1; sent <= MaxSends; sent++)
        {
            await app.Layer.GroupSendAsync(group, Big);
            if (app.Logs.Entries.Any(e => e.Message.Contains(logged, StringComparison.Ordinal))) return sent;
            if (sent % 8 == 0) await Task.Delay(1);
        }
        Assert.Fail($"no '{logged}' after {MaxSends} messages");
        return 0;
    }

    [Fact]
    public async Task DropOldest_drops_for_a_client_that_stops_reading_and_tells_it_how_many()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/drop?group=flood");
        Assert.Equal("joined", (await client.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        // The client reads nothing now.
        var sent = await SendUntilLoggedAsync(app, "flood", "frames dropped");

        long messages = 0, dropped = 0, last = 0;
        while (last < sent)
        {
            var frame = await client.ReceiveJsonAsync();
            switch (frame.GetProperty("celeriac").GetString())
            {
                case "message":
                    var offset = frame.GetProperty("offset").GetInt64();
                    Assert.True(offset > last, $"offset {offset} after {last}");
                    last = offset;
                    messages++;
                    break;
                case "dropped":
                    dropped += frame.GetProperty("count").GetInt64();
                    break;
                default:
                    Assert.Fail(frame.ToString());
                    break;
            }
        }
        Assert.True(dropped > 0);
        Assert.Equal(sent, messages + dropped);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task Close_policy_closes_a_client_that_stops_reading_with_1013()
    {
        await using var app = await StartAsync();
        await using var client = await app.ConnectAsync("/ws/close?group=flood&tag=slow");
        Assert.Equal("joined", (await client.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        await SendUntilLoggedAsync(app, "flood", "closing with 1013");
        Assert.Equal((WebSocketCloseStatus)1013, await client.ReceiveCloseAsync());
        await app.Probe.WaitForAsync(e => e == "disconnect:slow:1013");
        await app.WaitForMembersAsync("flood", 0);
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_aborted_after_the_send_timeout_and_its_consumer_disconnected()
    {
        await using var app = await StartAsync();
        await using var stalled = await app.ConnectAsync("/ws/stall?group=flood&tag=stalled");
        Assert.Equal("joined", (await stalled.ReceiveJsonAsync()).GetProperty("celeriac").GetString());
        await using var reading = await app.ConnectAsync("/ws/stall?group=calm&tag=reading");
        Assert.Equal("joined", (await reading.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        // The stalled client reads nothing: its kernel buffers fill, then one write waits longer than the 1 s timeout.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var sent = 1; !app.Logs.Entries.Any(e => e.Message.Contains("took no frame", StringComparison.Ordinal)); sent++)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"not aborted after {sent} messages");
            await app.Layer.GroupSendAsync("flood", Big);
            if (sent % 16 == 0) await Task.Delay(5);
        }

        await app.Probe.WaitForAsync(e => e == "disconnect:stalled:");          // lost: no close code
        await app.WaitForMembersAsync("flood", 0);
        await app.Layer.GroupSendAsync("calm", new { type = "calm", n = 1 });   // the other connection is untouched
        Assert.Equal("message", (await reading.ReceiveJsonAsync()).GetProperty("celeriac").GetString());
        Assert.DoesNotContain("disconnect:reading:", app.Probe.Events);
    }

    [Fact]
    public async Task A_chat_client_that_stopped_reading_while_5000_messages_went_to_its_room_is_told_and_resumes_every_one()
    {
        const int Count = 5000;
        await using var app = await StartRoomAsync(SendQueueFullMode.DropOldest);
        await using var client = await app.ConnectAsync("/ws/room?group=room");
        Assert.Equal("joined", (await client.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        await FloodAsync(app, "room", Count);   // the client reads nothing meanwhile

        // Then it reads as celeriac.js does: in order per group, a frame whose prev is past its offset held until the
        // gap is filled, and a resume from its offset after each dropped notice.
        long last = 0, dropped = 0, resumes = 0;
        var held = new SortedDictionary<long, long>();   // offset → prev
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (last < Count)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"at offset {last} of {Count} after {clock.Elapsed}");
            var frame = await client.ReceiveJsonAsync(TimeSpan.FromSeconds(30));
            switch (frame.GetProperty("celeriac").GetString())
            {
                case "message":
                    Assert.Equal("room", frame.GetProperty("group").GetString());
                    var offset = frame.GetProperty("offset").GetInt64();
                    var prev = frame.GetProperty("prev").GetInt64();
                    Assert.Equal($"message {offset} ", frame.GetProperty("message").GetProperty("text").GetString()![..$"message {offset} ".Length]);
                    if (offset <= last) break;
                    held[offset] = prev;
                    while (held.Count > 0 && held.First() is var (next, nextPrev) && (nextPrev <= last || next <= last))
                    {
                        held.Remove(next);
                        if (next > last) last = next;
                    }
                    break;
                case "dropped":
                    dropped += frame.GetProperty("count").GetInt64();
                    resumes++;
                    await client.SendJsonAsync(new { celeriac = "resume", groups = new Dictionary<string, long> { ["room"] = last } });
                    break;
                default:
                    Assert.Fail($"unexpected frame {frame}");
                    break;
            }
        }
        Assert.True(dropped > 0, "the flood overflowed no send queue: the test proves nothing");
        Assert.True(resumes > 0);
        Assert.Equal(Count, last);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains("frames dropped so far", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Under_the_close_policy_a_chat_client_that_stopped_reading_while_5000_messages_went_to_its_room_is_closed_with_1013()
    {
        await using var app = await StartRoomAsync(SendQueueFullMode.Close);
        await using var client = await app.ConnectAsync("/ws/room?group=room&tag=slow");
        Assert.Equal("joined", (await client.ReceiveJsonAsync()).GetProperty("celeriac").GetString());

        await FloodAsync(app, "room", 5000);

        Assert.Equal((WebSocketCloseStatus)1013, await client.ReceiveCloseAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains("closing with 1013", StringComparison.Ordinal));
        await app.Probe.WaitForAsync(e => e == "disconnect:slow:1013");
        await app.WaitForMembersAsync("room", 0);
    }
}
