using System.Text.Json;
using Microsoft.Extensions.Configuration;
using CleanEnergy.Data;
using CleanEnergy.Devices;
using CleanEnergy.VendorCloud;

namespace CleanEnergy.Tests;

public sealed class LiveUpdateTests
{
    [Fact]
    public async Task Clock_grid_and_device_updates_reach_their_groups()
    {
        await using var app = await EnergyTestApp.StartAsync();
        await using var time = await GroupRecorder.StartAsync(app.Channels, "time");
        await using var dashboard = await GroupRecorder.StartAsync(app.Channels, "dashboard");
        var device = (await app.DevicesAsync())[1];

        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await app.Tasks.SendAsync("clock.tick");   // keeps no result (IgnoreResult): wait for its message
        var tick = await time.WaitForAsync(m => m.Type == "clock.tick");
        Assert.InRange(tick.Message.GetProperty("now").GetDateTimeOffset(), before, DateTimeOffset.UtcNow.AddSeconds(1));

        var poll = await app.RunOkAsync<PollResult>("devices.poll", new { deviceId = device.Id });
        var state = await dashboard.WaitForAsync(m => m.Type == "device.state");
        Assert.Equal(device.Id, state.Message.GetProperty("deviceId").GetInt32());
        Assert.Equal(poll.On, state.Message.GetProperty("on").GetBoolean());
        Assert.Equal(poll.PowerW, state.Message.GetProperty("powerW").GetDouble());

        await app.SetGridAsync("clean");
        await app.RunOkAsync<Grid.GridRefresh>("grid.refresh");
        var grid = await dashboard.WaitForAsync(m => m.Type == "grid.intensity");
        Assert.Equal(GridControl.CleanIntensity, grid.Message.GetProperty("value").GetDouble());
        Assert.Equal(poll.PowerW!.Value, grid.Message.GetProperty("totalPowerW").GetDouble(), 1);   // only one device polled so far
        Assert.Equal(JsonValueKind.String, grid.Message.GetProperty("at").ValueKind);
        var stored = await app.WithServiceAsync<ObservationStore, Observation?>(s => s.LatestGridAsync(default));
        Assert.Equal(GridControl.CleanIntensity, stored!.NumberValue);
    }

    [Fact]
    public void Configuration_picks_the_database_and_the_transport()
    {
        Assert.True(EnergyDatabase.IsPostgres("Host=db;Database=energy;Username=app"));
        Assert.False(EnergyDatabase.IsPostgres("Data Source=data/energy.db"));
        Assert.False(EnergyDatabase.IsPostgres(null));
        var root = Path.GetTempPath();
        Assert.Contains(Path.Combine(root, "data", "energy.db"), EnergyDatabase.SqliteConnectionString(null, root), StringComparison.Ordinal);

        var empty = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
        Assert.Equal("10.0.0.5:6379", Celeriac.RedisCeleriacBuilderExtensions.FindConfiguration(["worker", "--redis", "10.0.0.5:6379"], empty));
        Assert.Equal("r:1", Celeriac.RedisCeleriacBuilderExtensions.FindConfiguration(["--redis=r:1"], empty));
        var configured = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Celeriac:Redis:Configuration"] = "cfg:6379" }).Build();
        if (Environment.GetEnvironmentVariable("CELERIAC_REDIS") is null)
        {
            Assert.Null(Celeriac.RedisCeleriacBuilderExtensions.FindConfiguration([], empty));
            Assert.Equal("cfg:6379", Celeriac.RedisCeleriacBuilderExtensions.FindConfiguration([], configured));
        }

        Assert.Equal("worker", EnergyCommand.Of(["--redis", "web", "worker"]).Name);   // "web" here is the Redis host name
        Assert.Equal("all", EnergyCommand.Of(["--urls", "http://127.0.0.1:0"]).Name);
        Assert.True(EnergyCommand.Of([]).IsAll);
        Assert.Equal("unsubscribe", EnergyCommand.Of(["--environment", "Test", "unsubscribe", "replica"]).Name);   // not "all": no simulator, no data set-up

        Assert.Equal("disk full", EnergyHosting.AlertText(JsonDocument.Parse("\"disk full\"").RootElement));
        Assert.Equal("x", EnergyHosting.AlertText(JsonDocument.Parse("{\"text\":\"x\",\"level\":2}").RootElement));
        Assert.Equal("{\"level\":2}", EnergyHosting.AlertText(JsonDocument.Parse("{\"level\":2}").RootElement));
    }
}
