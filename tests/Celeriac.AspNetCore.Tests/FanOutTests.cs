using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Xunit.Abstractions;

namespace Celeriac.AspNetCore.Tests;

/// <summary>One group, many sockets, one of them stalled.</summary>
public sealed class FanOutTests(ITestOutputHelper output)
{
    private const int Clients = 1000;
    private const int Burst = 50;

    /// <summary>Generous for a loaded 2-core CI machine; the figure is printed.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static (string? Kind, long Offset) ReadKindAndOffset(ReadOnlySpan<byte> frame)
    {
        var reader = new Utf8JsonReader(frame);
        string? kind = null;
        long offset = -1;
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("celeriac"u8)) { reader.Read(); kind = reader.GetString(); }
            else if (reader.ValueTextEquals("offset"u8)) { reader.Read(); offset = reader.GetInt64(); }
            else { reader.Read(); reader.Skip(); }
        }
        return (kind, offset);
    }

    [Fact]
    public async Task A_burst_reaches_1000_sockets_in_order_while_a_stalled_one_is_dropped_and_members_go_when_sockets_close()
    {
        await using var app = await TestApp.StartAsync(a =>
        {
            a.MapConsumer<CommandConsumer>("/ws/fan");
            a.MapConsumer<CommandConsumer>("/ws/stalled", o => o.SendQueueCapacity = 2);
        });

        var clock = Stopwatch.StartNew();
        var clients = new TestClient[Clients];
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using (var gate = new SemaphoreSlim(8))
        {
            await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    clients[i] = await app.ConnectAsync("/ws/fan?group=fan", invoker: invoker);
                    var joined = await clients[i].ReceiveJsonAsync();
                    Assert.Equal(("joined", 0L), (joined.GetProperty("celeriac").GetString(), joined.GetProperty("offset").GetInt64()));
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
        output.WriteLine($"{Clients} sockets connected and joined in {clock.ElapsedMilliseconds} ms");

        // The stalled client: its kernel buffers and its 2-frame queue are full before the burst, and it never reads.
        await using var stalled = await app.ConnectAsync("/ws/stalled?group=fan");
        Assert.Equal("joined", (await stalled.ReceiveJsonAsync()).GetProperty("celeriac").GetString());
        await stalled.SendAsync("flood 400 65536");
        await app.Logs.WaitForAsync("frames dropped");
        await app.WaitForMembersAsync("fan", Clients + 1);

        var receivers = clients.Select(async client =>
        {
            // Lean reading (one buffer, one timeout, offsets read in place): the test process plays 1,000 browsers.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var buffer = new byte[512];
            for (var expected = 1L; expected <= Burst; expected++)
            {
                var result = await client.Socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
                Assert.True(result.EndOfMessage);
                Assert.Equal(("message", expected), ReadKindAndOffset(buffer.AsSpan(0, result.Count)));
            }
        }).ToList();
        long sent = 0;
        long serverDoneMs = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Name == "celeriac.channels.frames.sent") l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, v, t, s) => { if (Interlocked.Add(ref sent, v) == Clients * Burst) serverDoneMs = clock.ElapsedMilliseconds; });
        listener.Start();
        clock.Restart();
        for (var n = 1; n <= Burst; n++) await app.Layer.GroupSendAsync("fan", new { type = "tick", n });
        await Task.WhenAll(receivers);
        var elapsed = clock.Elapsed;
        output.WriteLine($"server wrote {sent} frames; {Clients * Burst} after {serverDoneMs} ms");
        output.WriteLine($"{Burst} messages reached {Clients} sockets ({Clients * Burst} frames) in {elapsed.TotalMilliseconds:F0} ms");
        Assert.True(elapsed < Bound, $"the burst took {elapsed}");

        // The stalled client lost most of the burst to its queue and is told so once it reads again.
        long messages = 0, dropped = 0, last = 0;
        while (last < Burst)
        {
            var text = await stalled.ReceiveAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(text);
            if (!text.StartsWith('{')) continue;   // the flood's binary frames
            var frame = JsonSerializer.Deserialize<JsonElement>(text);
            switch (frame.GetProperty("celeriac").GetString())
            {
                case "message":
                    last = frame.GetProperty("offset").GetInt64();
                    messages++;
                    break;
                case "dropped":
                    dropped += frame.GetProperty("count").GetInt64();
                    break;
            }
        }
        output.WriteLine($"stalled client: {messages} of {Burst} messages, {dropped} frames dropped");
        Assert.True(messages < Burst && dropped >= Burst - messages, $"{messages} messages, {dropped} dropped");

        clock.Restart();
        await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        await stalled.DisposeAsync();
        await app.WaitForMembersAsync("fan", 0);
        output.WriteLine($"all sockets closed and the group empty in {clock.ElapsedMilliseconds} ms");
    }
}
