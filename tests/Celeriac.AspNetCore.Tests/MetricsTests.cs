using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;

namespace Celeriac.AspNetCore.Tests;

[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsCollection;

/// <summary>The Celeriac meter is process-wide: these run alone.</summary>
[Collection(nameof(MetricsTests))]
public sealed class MetricsTests
{
    [Fact]
    public async Task Connections_frames_sent_and_frames_dropped_are_measured()
    {
        long connections = 0, sent = 0, dropped = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Celeriac" && instrument.Name.StartsWith("celeriac.channels.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "celeriac.channels.connections": Interlocked.Add(ref connections, value); break;
                case "celeriac.channels.frames.sent": Interlocked.Add(ref sent, value); break;
                case "celeriac.channels.frames.dropped": Interlocked.Add(ref dropped, value); break;
            }
        });
        listener.Start();

        await using var app = await TestApp.StartAsync(a => a.MapConsumer<CommandConsumer>("/ws/cmd", o => o.SendQueueCapacity = 1));
        var clients = new List<TestClient>();
        for (var i = 0; i < 3; i++) clients.Add(await app.ConnectAsync("/ws/cmd"));
        Assert.Equal(3, Interlocked.Read(ref connections));

        await clients[0].SendAsync("ping");
        Assert.Equal("echo:ping", await clients[0].ReceiveAsync());
        Assert.True(Interlocked.Read(ref sent) >= 1);

        // 200 frames queued at once into a queue of one: most are dropped, whatever the client does.
        await clients[1].SendAsync("flood 200 10");
        await clients[1].SendAsync("done");
        while (await clients[1].ReceiveAsync() is { } text && text != "echo:done")
        {
        }
        Assert.True(Interlocked.Read(ref dropped) > 100, $"{dropped} dropped");

        foreach (var client in clients) await client.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Interlocked.Read(ref connections) != 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, Interlocked.Read(ref connections));
    }
}
