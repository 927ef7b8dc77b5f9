using CleanEnergy.Data;
using CleanEnergy.Devices;
using Celeriac;
using Celeriac.Transport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;

namespace CleanEnergy.Tests;

/// <summary>Runs on SQLite and on PostgreSQL: see <see cref="EnergyDatabaseTests"/>.</summary>
public abstract class DeviceTaskTests(PostgresServer? postgres) : EnergyDatabaseTests(postgres)
{
    [Fact]
    public async Task Seeding_imports_the_vendors_devices_and_the_demo_users()
    {
        await using var app = await StartAppAsync();
        var devices = await app.DevicesAsync();
        Assert.Equal(["vx-1001", "vx-1002", "vx-1003", "vx-1004", "vx-1005", "vx-1006"], devices.Select(d => d.VendorId));
        Assert.All(devices, d => Assert.True(d.Reachable));
        var users = await app.WithDbAsync(db => db.Users.OrderBy(u => u.UserName).Select(u => u.UserName).ToListAsync());
        Assert.Equal(["alice", "bob"], users);
        var alice = await app.WithServiceAsync<Users.UserService, User?>(s => s.VerifyPasswordAsync("alice", "demo"));
        Assert.NotNull(alice);
        Assert.Null(await app.WithServiceAsync<Users.UserService, User?>(s => s.VerifyPasswordAsync("alice", "wrong")));
    }

    [Fact]
    public async Task Poll_stores_each_vendor_reading_once_even_when_run_twice_or_redelivered()
    {
        // The vendor's clock stands still, so every read reports the same reportedAt: the same reading.
        var vendorClock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using var app = await StartAppAsync(vendorClock: vendorClock);
        var device = (await app.DevicesAsync()).First(d => d.VendorId == "vx-1002");   // the boiler: several readings
        int Rows(EnergyDb db) => db.Observations.Count(o => o.DeviceId == device.Id);

        var first = await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id });
        Assert.True(first.Reachable);
        Assert.True(first.Stored >= 5, $"stored {first.Stored}");
        Assert.Equal(first.Stored, await app.WithDbAsync(db => Task.FromResult(Rows(db))));

        // The same poll again: the vendor reports the same reading, nothing new is stored.
        var second = await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id });
        Assert.Equal(0, second.Stored);

        // A redelivered message: the same envelope (same task id) run twice, as after a worker died mid-task.
        var id = "poll-redelivered-" + Guid.NewGuid().ToString("N");
        await app.Tasks.SendAsync("devices.poll", new { deviceId = device.Id }, o => o.TaskId = id);
        await app.Tasks.SendAsync("devices.poll", new { deviceId = device.Id }, o => o.TaskId = id);
        await app.WaitAsync(id);
        await Task.Delay(300);   // let the second copy run too (it waits for the device lock at most ~1 s)
        await WaitUntilQueueEmptyAsync(app);
        Assert.Equal(first.Stored, await app.WithDbAsync(db => Task.FromResult(Rows(db))));

        // Two writers storing the same report at once: the unique key keeps one.
        var status = await app.WithServiceAsync<Vendor.VendorClient, Vendor.VendorDeviceStatus>(v => v.GetDeviceAsync(device.Id, device.VendorId, default));
        var readings = DeviceGateway.ReadingsOf(status);
        var stored = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.WithServiceAsync<ObservationStore, int>(s => s.AddAsync(device.Id, readings, default))));
        Assert.Equal(0, stored.Sum());

        // When the vendor's clock moves on, the next poll is a new reading.
        vendorClock.Advance(TimeSpan.FromMinutes(1));
        var third = await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id });
        Assert.Equal(first.Stored, third.Stored);
        Assert.Equal(2 * first.Stored, await app.WithDbAsync(db => Task.FromResult(Rows(db))));

        // Every call was recorded as an interaction.
        var interactions = await app.WithDbAsync(db => db.Interactions.Where(i => i.DeviceId == device.Id && i.Operation == "devices.get").ToListAsync());
        Assert.True(interactions.Count >= 5);
        Assert.All(interactions, i => Assert.Equal(("ok", 200), (i.Outcome, i.StatusCode ?? 0)));
    }

    [Fact]
    public async Task Concurrent_writers_of_the_same_new_readings_store_each_once()
    {
        await using var app = await StartAppAsync();
        var device = (await app.DevicesAsync())[0];
        var time = new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc).AddTicks(1234567);   // finer than a microsecond
        List<Reading> readings = [.. Enumerable.Range(0, 12).Select(i => Reading.OfNumber($"series{i}", i, time))];

        // Eight writers at once, half of them in the opposite order (two tasks that saw one report differently).
        var stored = await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(() =>
            app.WithServiceAsync<ObservationStore, int>(s => s.AddAsync(device.Id, w % 2 == 0 ? readings : [.. Enumerable.Reverse(readings)], default)))));

        Assert.Equal(readings.Count, stored.Sum());
        var rows = await app.WithDbAsync(db => db.Observations.AsNoTracking().Where(o => o.DeviceId == device.Id).ToListAsync());
        Assert.Equal(readings.Count, rows.Count);
        Assert.All(rows, o => Assert.Equal(DateTimeKind.Utc, o.Time.Kind));
        // The same reading again, with the time as another provider or a JSON round trip hands it back, is still a repeat.
        Assert.Equal(0, await app.WithServiceAsync<ObservationStore, int>(s => s.AddAsync(device.Id, [readings[0] with { Time = rows[0].Time }], default)));
        Assert.Equal(0, await app.WithServiceAsync<ObservationStore, int>(s => s.AddAsync(device.Id, [readings[0] with { Time = DateTime.SpecifyKind(time, DateTimeKind.Unspecified) }], default)));
    }

    private static async Task WaitUntilQueueEmptyAsync(EnergyTestApp app)
    {
        var transport = app.Host.Services.GetService(typeof(Celeriac.Transport.ITaskTransport)) as Celeriac.Transport.ITaskTransport;
        Assert.NotNull(transport);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var stats = await transport.GetQueueStatsAsync();
            if (stats.Where(q => q.Queue == "default").All(q => q.Ready == 0 && q.Delayed == 0 && q.Leased == 0)) return;
            await Task.Delay(50);
        }
        Assert.Fail("The queue did not drain in 10 s.");
    }

    [Fact]
    public async Task Decide_switches_devices_on_when_the_grid_is_clean_and_off_when_it_is_dirty()
    {
        await using var app = await StartAppAsync();
        var devices = await app.DevicesAsync();

        // No grid signal yet: nothing to decide on.
        var none = await app.RunOkAsync<Decision>("devices.decide", new { deviceId = devices[0].Id });
        Assert.Equal("no-grid-signal", none.Outcome);

        await app.SetGridAsync("clean");
        await app.RunOkAsync<Grid.GridRefresh>("grid.refresh");
        foreach (var d in devices)
        {
            var decision = await app.RunOkAsync<Decision>("devices.decide", new { deviceId = d.Id });
            Assert.True(decision.WantOn);
            Assert.True(decision.On);
        }
        Assert.All(await app.VendorStatesAsync(), s => Assert.True(s.Value, $"{s.Key} is off"));

        await app.SetGridAsync("dirty");
        await app.RunOkAsync<Grid.GridRefresh>("grid.refresh");
        var outcomes = new List<string>();
        foreach (var d in devices)
            outcomes.Add((await app.RunOkAsync<Decision>("devices.decide", new { deviceId = d.Id })).Outcome);
        Assert.All(outcomes, o => Assert.Equal("switched", o));
        Assert.All(await app.VendorStatesAsync(), s => Assert.False(s.Value, $"{s.Key} is on"));

        // Deciding again changes nothing: the state already matches.
        var again = await app.RunOkAsync<Decision>("devices.decide", new { deviceId = devices[0].Id });
        Assert.Equal("unchanged", again.Outcome);
        var powerCalls = await app.WithDbAsync(db => db.Interactions.CountAsync(i => i.Operation == "devices.power"));
        Assert.Equal(6 + 6 - 2, powerCalls);   // two of the six start on, so clean switches four on; dirty switches all six off
    }

    [Fact]
    public async Task Decide_all_sends_one_decide_per_device_and_a_redelivered_tick_sends_none_twice()
    {
        await using var app = await StartAppAsync();
        await app.SetGridAsync("clean");
        await app.RunOkAsync<Grid.GridRefresh>("grid.refresh");

        var tick = "beat:devices.decide_all:" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var fanOut = await app.RunOkAsync<FanOut>("devices.decide_all", null, o => o.TaskId = tick);
        Assert.Equal(6, fanOut.Devices);
        Assert.Equal(6, fanOut.TaskIds.Distinct().Count());
        Assert.Equal(0, fanOut.Duplicates);
        var decisions = new List<Decision>();
        foreach (var id in fanOut.TaskIds)
        {
            var result = await app.WaitAsync(id);
            Assert.Equal(TaskStates.Success, result.State);
            decisions.Add(System.Text.Json.JsonSerializer.Deserialize<Decision>(result.Result!, EnergyTestApp.Json)!);
        }
        Assert.Equal((await app.DevicesAsync()).Select(d => d.Id).Order(), decisions.Select(d => d.DeviceId).Order());

        // The same tick delivered again (a worker died after sending): every send is a duplicate of the first.
        var again = await app.RunOkAsync<FanOut>("devices.decide_all", null, o => o.TaskId = tick + ":again");
        Assert.Equal(0, again.Duplicates);   // a different tick id sends again…
        var redelivered = await SendSameTickAgainAsync(app, tick);
        Assert.Equal(6, redelivered.Duplicates);   // …the same one does not
        Assert.Equal(fanOut.TaskIds, redelivered.TaskIds);
    }

    private static async Task<FanOut> SendSameTickAgainAsync(EnergyTestApp app, string tick)
    {
        // A new message with the same task id: what the worker sees when the tick's message is delivered again.
        await app.Tasks.SendAsync("devices.decide_all", null, o => o.TaskId = tick);
        // The result record of the first run is overwritten by the second one's: wait until it reports duplicates.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var fanOut = System.Text.Json.JsonSerializer.Deserialize<FanOut>((await app.Tasks.GetHandle(tick).GetResultAsync())!.Result!, EnergyTestApp.Json)!;
            if (fanOut.Duplicates > 0 || DateTime.UtcNow > deadline) return fanOut;
            await Task.Delay(50);
        }
    }
}
