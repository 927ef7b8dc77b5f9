using CleanEnergy.Devices;
using Celeriac;
using Celeriac.Transport;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Tests;

/// <summary>Runs on SQLite and on PostgreSQL: see <see cref="EnergyDatabaseTests"/>.</summary>
public abstract class VendorTroubleTests(PostgresServer? postgres) : EnergyDatabaseTests(postgres)
{
    [Fact]
    public async Task With_30_percent_of_vendor_calls_failing_every_decision_still_completes_through_retries()
    {
        await using var app = await StartAppAsync(maxRetries: 15);
        var devices = await app.DevicesAsync();

        foreach (var (mode, wantOn) in new[] { ("clean", true), ("dirty", false) })
        {
            await app.SetTroubleAsync(new { failureRate = 0 });
            await app.SetGridAsync(mode);
            await app.RunOkAsync<Grid.GridRefresh>("grid.refresh");

            // 30 % of calls answer 500/502/503; a few more hold their answer past the client's 1 s timeout (the switch
            // still takes effect at the vendor: the retry must see that and not switch again).
            await app.SetTroubleAsync(new { failureRate = 0.3, timeoutRate = 0.03, timeoutDelayMs = 1500 });
            var handles = new List<TaskHandle>();
            foreach (var d in devices)
                handles.Add(await app.Tasks.SendAsync("devices.decide", new { deviceId = d.Id }));
            var results = new List<Celeriac.Transport.TaskResult>();
            foreach (var h in handles) results.Add(await app.WaitAsync(h.Id, timeoutSeconds: 45));

            Assert.All(results, r => Assert.True(r.State == TaskStates.Success, $"{r.Task} {r.Id}: {r.State} {r.Error?.Type}: {r.Error?.Message}"));
            var decisions = results.Select(r => System.Text.Json.JsonSerializer.Deserialize<Decision>(r.Result!, EnergyTestApp.Json)!).ToList();
            Assert.All(decisions, d => Assert.Equal(wantOn, d.On));
            Assert.All(decisions, d => Assert.NotEqual("unreachable", d.Outcome));

            await app.SetTroubleAsync(new { failureRate = 0 });
            Assert.All(await app.VendorStatesAsync(), s => Assert.True(s.Value == wantOn, $"{s.Key} should be {(wantOn ? "on" : "off")}"));
        }

        // The trouble was real: failed calls are in the interactions, and tasks were retried.
        var failed = await app.WithDbAsync(db => db.Interactions.CountAsync(i => i.Outcome != "ok"));
        Assert.True(failed > 0, "no failed vendor call was recorded");
        Assert.All(await app.DevicesAsync(), d => Assert.True(d.Reachable));
    }

    [Fact]
    public async Task An_offline_device_raises_exactly_one_alert_per_outage()
    {
        await using var app = await StartAppAsync(maxRetries: 3);
        await using var events = await EventRecorder.StartAsync(app.Events, "alerts.device.>");
        await using var alerts = await GroupRecorder.StartAsync(app.Channels, "alerts");
        await alerts.WaitUntilForwardingAsync(app.Events);
        var device = (await app.DevicesAsync()).First(d => d.VendorId == "vx-1003");
        var other = (await app.DevicesAsync()).First(d => d.VendorId == "vx-1001");
        int Count(string subject) => events.Events.Count(e => e.Subject == subject);

        // Outage 1: several polls (one after another, then three at once) all end unreachable; one alert.
        await app.SetOfflineAsync("vx-1003", true);
        for (var i = 0; i < 3; i++)
        {
            var poll = await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id });
            Assert.False(poll.Reachable);
        }
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id })));
        Assert.All(concurrent, p => Assert.False(p.Reachable));
        await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = other.Id });   // other devices are unaffected
        await events.WaitForAsync(e => e.Any(x => x.Subject == "alerts.device.offline"));
        Assert.Equal(1, Count("alerts.device.offline"));
        Assert.False((await app.DevicesAsync()).First(d => d.Id == device.Id).Reachable);
        Assert.True((await app.DevicesAsync()).First(d => d.Id == other.Id).Reachable);

        // It answers again: it flips back, one online alert.
        await app.SetOfflineAsync("vx-1003", false);
        Assert.True((await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id })).Reachable);
        Assert.True((await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id })).Reachable);
        await events.WaitForAsync(e => e.Any(x => x.Subject == "alerts.device.online"));
        Assert.True((await app.DevicesAsync()).First(d => d.Id == device.Id).Reachable);

        // Outage 2: a second offline alert.
        await app.SetOfflineAsync("vx-1003", true);
        for (var i = 0; i < 2; i++)
            Assert.False((await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id })).Reachable);
        // A switch asked for while it is down fails for good (and raises no extra alert).
        var failedSwitch = await app.RunAsync("devices.switch", new { deviceId = device.Id, on = true });
        Assert.Equal(TaskStates.Failure, failedSwitch.State);
        Assert.Equal(nameof(DeviceUnreachableException), failedSwitch.Error?.Type);
        await events.WaitForAsync(e => e.Count(x => x.Subject == "alerts.device.offline") >= 2);
        await Task.Delay(300);   // nothing more arrives late

        Assert.Equal(2, Count("alerts.device.offline"));
        Assert.Equal(1, Count("alerts.device.online"));
        Assert.Equal(["alerts.device.offline", "alerts.device.online", "alerts.device.offline"], events.Events.Select(e => e.Subject));
        var payload = events.Events[0].GetPayload<DeviceAlert>()!;
        Assert.Equal(device.Id, payload.DeviceId);
        Assert.Contains("unreachable", payload.Text, StringComparison.Ordinal);

        // Each alert was forwarded to the "alerts" WebSocket group.
        await alerts.WaitForAsync(m => m.Message.GetProperty("id").GetString() == events.Events[2].Id);
        var forwarded = alerts.Messages.Where(m => m.Message.GetProperty("subject").GetString()!.StartsWith("alerts.device.", StringComparison.Ordinal)).ToList();
        Assert.All(forwarded, m => Assert.Equal("alert", m.Type));
        Assert.Equal(events.Events.Select(e => e.Subject), forwarded.Select(m => m.Message.GetProperty("subject").GetString()));
        Assert.Equal(events.Events.Select(e => e.Id), forwarded.Select(m => m.Message.GetProperty("id").GetString()));
        Assert.Contains("vx-1003", forwarded[0].Message.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_alert_sent_from_anywhere_reaches_the_alerts_group_as_text()
    {
        await using var app = await StartAppAsync();
        await using var alerts = await GroupRecorder.StartAsync(app.Channels, "alerts");
        await alerts.WaitUntilForwardingAsync(app.Events);
        await app.Events.PublishAsync("alerts.ops.note", "disk 97% on db-1");   // what `send --on alerts.ops.note "…"` publishes
        var message = await alerts.WaitForAsync(m => m.Message.GetProperty("subject").GetString() == "alerts.ops.note");
        Assert.Equal("alerts.ops.note", message.Message.GetProperty("subject").GetString());
        Assert.Equal("disk 97% on db-1", message.Message.GetProperty("text").GetString());
    }
}
