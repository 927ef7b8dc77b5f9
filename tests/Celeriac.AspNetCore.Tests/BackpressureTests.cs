using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;

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
}
