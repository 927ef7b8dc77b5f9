using System.Text.Json;

namespace CleanEnergy.VendorCloud.Tests.Devices;

public sealed class DeviceApiTests
{
    [Fact]
    public async Task List_has_the_default_fleet_of_six()
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var devices = (await cloud.GetJsonAsync("api/v1/devices")).EnumerateArray().ToList();

        Assert.Equal(["vx-1001", "vx-1002", "vx-1003", "vx-1004", "vx-1005", "vx-1006"], devices.Select(d => d.GetProperty("vendorId").GetString()));
        Assert.Equal("Living-room plug", devices[0].GetProperty("name").GetString());
        Assert.Equal("Boiler", devices[1].GetProperty("name").GetString());
        Assert.Equal("Driveway charger", devices[2].GetProperty("name").GetString());
        Assert.Equal(["smartPlug", "thermostat", "evCharger", "smartPlug", "light", "thermostat"], devices.Select(d => d.GetProperty("kind").GetString()));
        Assert.All(devices, d => Assert.True(d.GetProperty("online").GetBoolean()));
        Assert.All(devices, d => Assert.False(string.IsNullOrEmpty(d.GetProperty("location").GetString())));
        Assert.True(devices[0].GetProperty("on").GetBoolean());
        Assert.False(devices[2].GetProperty("on").GetBoolean());
    }

    [Fact]
    public async Task DeviceCount_sizes_the_fleet_repeating_the_catalogue()
    {
        var (cloud, _) = await Cloud.StartFakeAsync(o => o.DeviceCount = 9);
        await using var _1 = cloud;

        var devices = (await cloud.GetJsonAsync("api/v1/devices")).EnumerateArray().ToList();

        Assert.Equal(9, devices.Count);
        Assert.Equal("vx-1009", devices[8].GetProperty("vendorId").GetString());
        Assert.Equal("Boiler 2", devices[7].GetProperty("name").GetString());
        var status = await cloud.GetJsonAsync("api/v1/devices/vx-1008");
        Assert.Equal("thermostat", status.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task Status_has_typed_readings_for_each_kind()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var boiler = await cloud.GetJsonAsync("api/v1/devices/vx-1002");
        Assert.Equal("vx-1002", boiler.GetProperty("vendorId").GetString());
        Assert.True(boiler.GetProperty("on").GetBoolean());
        Assert.Equal(time.GetUtcNow(), boiler.GetProperty("reportedAt").GetDateTimeOffset());
        var readings = boiler.GetProperty("readings");
        AssertReading(readings, "power", "onoff", JsonValueKind.True);
        AssertReading(readings, "powerW", "number", JsonValueKind.Number);
        Assert.Equal(boiler.GetProperty("powerW").GetDouble(), readings.GetProperty("powerW").GetProperty("value").GetDouble());
        AssertReading(readings, "energyKWh", "number", JsonValueKind.Number);
        AssertReading(readings, "targetTemperature", "number", JsonValueKind.Number);
        Assert.Equal(21, readings.GetProperty("targetTemperature").GetProperty("value").GetDouble());
        Assert.True(readings.GetProperty("targetTemperature").GetProperty("settable").GetBoolean());
        AssertReading(readings, "roomTemperature", "number", JsonValueKind.Number);
        AssertReading(readings, "display", "text", JsonValueKind.String);
        Assert.StartsWith("Heating to 21.0", readings.GetProperty("display").GetProperty("value").GetString(), StringComparison.Ordinal);

        var plug = (await cloud.GetJsonAsync("api/v1/devices/vx-1001")).GetProperty("readings");
        AssertReading(plug, "ledColour", "choice", JsonValueKind.String);
        var choices = plug.GetProperty("ledColour").GetProperty("choices").EnumerateArray().Select(c => c.GetString()).ToList();
        Assert.Contains(plug.GetProperty("ledColour").GetProperty("value").GetString(), choices);

        var light = (await cloud.GetJsonAsync("api/v1/devices/vx-1005")).GetProperty("readings");
        AssertReading(light, "colour", "choice", JsonValueKind.String);
        AssertReading(light, "power", "onoff", JsonValueKind.False);

        var charger = (await cloud.GetJsonAsync("api/v1/devices/vx-1003")).GetProperty("readings");
        AssertReading(charger, "stateOfCharge", "number", JsonValueKind.Number);
        AssertReading(charger, "chargeLimit", "number", JsonValueKind.Number);
        AssertReading(charger, "display", "text", JsonValueKind.String);
    }

    [Fact]
    public async Task Switch_round_trip_is_idempotent()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        Assert.False((await cloud.GetJsonAsync("api/v1/devices/vx-1004")).GetProperty("on").GetBoolean());

        var on = await cloud.SwitchAsync("vx-1004", true);
        Assert.True(on.GetProperty("on").GetBoolean());
        Assert.InRange(on.GetProperty("powerW").GetDouble(), 1400, 2200);    // a 1.8 kW dishwasher
        Assert.Equal(time.GetUtcNow(), on.GetProperty("lastSwitchedAt").GetDateTimeOffset());
        var switchedAt = time.GetUtcNow();

        var status = await cloud.GetJsonAsync("api/v1/devices/vx-1004");
        Assert.True(status.GetProperty("on").GetBoolean());
        Assert.True(status.GetProperty("readings").GetProperty("power").GetProperty("value").GetBoolean());

        time.Advance(TimeSpan.FromMinutes(1));
        var again = await cloud.SwitchAsync("vx-1004", true);
        Assert.True(again.GetProperty("on").GetBoolean());
        Assert.Equal(switchedAt, again.GetProperty("lastSwitchedAt").GetDateTimeOffset());   // no change: still the first switch

        var off = await cloud.SwitchAsync("vx-1004", false);
        Assert.False(off.GetProperty("on").GetBoolean());
        Assert.InRange(off.GetProperty("powerW").GetDouble(), 0.4, 1.2);
        Assert.False((await cloud.GetJsonAsync("api/v1/devices")).EnumerateArray().Single(d => d.GetProperty("vendorId").GetString() == "vx-1004").GetProperty("on").GetBoolean());
    }

    [Fact]
    public async Task Unknown_device_is_a_404_problem()
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var problem = await Cloud.AssertProblemAsync(await cloud.Http.GetAsync("api/v1/devices/vx-9999"), 404);
        Assert.Contains("vx-9999", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Cloud.AssertProblemAsync(await cloud.PostAsync("api/v1/devices/vx-9999/power", """{"on": true}"""), 404);
        await Cloud.AssertProblemAsync(await cloud.PutAsync("api/v1/devices/vx-9999/settings", """{"colour": "red"}"""), 404);
        await Cloud.AssertProblemAsync(await cloud.Http.GetAsync("api/v1/nothing-here"), 404);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("""{"on": "yes"}""")]
    [InlineData("""{"on": tru""")]
    [InlineData("""{}""")]
    [InlineData("""{"state": true}""")]
    [InlineData("null")]
    [InlineData("[true]")]
    public async Task Bad_power_body_is_a_400_problem_and_changes_nothing(string body)
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var problem = await Cloud.AssertProblemAsync(await cloud.PostAsync("api/v1/devices/vx-1004/power", body), 400);
        Assert.Contains("\"on\"", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False((await cloud.GetJsonAsync("api/v1/devices/vx-1004")).GetProperty("on").GetBoolean());
    }

    [Fact]
    public async Task Settings_change_typed_values_and_refuse_bad_ones()
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var boiler = await cloud.PutJsonAsync("api/v1/devices/vx-1002/settings", """{"targetTemperature": 19.5}""");
        Assert.Equal(19.5, boiler.GetProperty("readings").GetProperty("targetTemperature").GetProperty("value").GetDouble());
        var light = await cloud.PutJsonAsync("api/v1/devices/vx-1005/settings", """{"colour": "BLUE"}""");
        Assert.Equal("blue", light.GetProperty("readings").GetProperty("colour").GetProperty("value").GetString());

        var problem = await Cloud.AssertProblemAsync(await cloud.PutAsync("api/v1/devices/vx-1002/settings", """{"targetTemperature": 45, "colour": "red"}"""), 400);
        Assert.True(problem.GetProperty("errors").TryGetProperty("targetTemperature", out _));
        Assert.True(problem.GetProperty("errors").TryGetProperty("colour", out _));
        await Cloud.AssertProblemAsync(await cloud.PutAsync("api/v1/devices/vx-1005/settings", """{"colour": "purple"}"""), 400);
        await Cloud.AssertProblemAsync(await cloud.PutAsync("api/v1/devices/vx-1005/settings", """{}"""), 400);
        await Cloud.AssertProblemAsync(await cloud.PutAsync("api/v1/devices/vx-1005/settings", "{colour"), 400);

        // Nothing of a refused request was applied.
        var after = await cloud.GetJsonAsync("api/v1/devices/vx-1002");
        Assert.Equal(19.5, after.GetProperty("readings").GetProperty("targetTemperature").GetProperty("value").GetDouble());
    }

    private static void AssertReading(JsonElement readings, string name, string kind, JsonValueKind valueKind)
    {
        Assert.True(readings.TryGetProperty(name, out var reading), $"reading {name} missing");
        Assert.Equal(kind, reading.GetProperty("kind").GetString());
        Assert.Equal(valueKind, reading.GetProperty("value").ValueKind);
    }
}
