using System.Text.Json;

namespace CleanEnergy.VendorCloud.Tests.Devices;

/// <summary>The device model moves with the (fake) clock, not with the number of reads.</summary>
public sealed class PowerEvolutionTests
{
    [Fact]
    public async Task Power_of_a_plug_that_is_on_varies_with_time_within_its_band()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var samples = new List<double>();
        for (var i = 0; i < 60; i++)
        {
            var first = (await cloud.GetJsonAsync("api/v1/devices/vx-1001")).GetProperty("powerW").GetDouble();
            var second = (await cloud.GetJsonAsync("api/v1/devices/vx-1001")).GetProperty("powerW").GetDouble();
            Assert.Equal(first, second);                           // same clock, same value
            samples.Add(first);
            time.Advance(TimeSpan.FromSeconds(30));
        }

        Assert.All(samples, w => Assert.InRange(w, 140 * 0.8, 140 * 1.2));   // 140 W rated: drift ±13 %, noise ±3 %
        Assert.True(samples.Distinct().Count() > 30, $"power barely moved: {string.Join(", ", samples)}");
        Assert.True(samples.Max() - samples.Min() > 5, "no drift over half an hour");
    }

    [Fact]
    public async Task A_device_that_is_off_draws_standby_power()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        for (var i = 0; i < 20; i++)
        {
            Assert.InRange((await cloud.GetJsonAsync("api/v1/devices/vx-1004")).GetProperty("powerW").GetDouble(), 0.4, 1.2);
            time.Advance(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task A_charger_that_is_on_charges_the_car_and_counts_energy()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var start = await cloud.SwitchAsync("vx-1003", true);
        var soc0 = Reading(start, "stateOfCharge");
        Assert.InRange(soc0, 20, 50);
        Assert.StartsWith("Charging", start.GetProperty("readings").GetProperty("display").GetProperty("value").GetString(), StringComparison.Ordinal);

        for (var minute = 0; minute < 60; minute += 10)
        {
            time.Advance(TimeSpan.FromMinutes(10));
            Assert.InRange((await cloud.GetJsonAsync("api/v1/devices/vx-1003")).GetProperty("powerW").GetDouble(), 5_500, 8_500);
        }

        var after = await cloud.GetJsonAsync("api/v1/devices/vx-1003");
        Assert.InRange(Reading(after, "stateOfCharge") - soc0, 9, 12.5);    // 7.2 kW × 90 % into 60 kWh ≈ 10.8 % an hour
        Assert.InRange(Reading(after, "energyKWh"), 6.2, 8.2);
    }

    [Fact]
    public async Task A_thermostat_warms_the_room_and_draws_less_as_it_nears_the_target()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        var start = await cloud.GetJsonAsync("api/v1/devices/vx-1002");
        Assert.InRange(start.GetProperty("powerW").GetDouble(), 1_900, 2_900);      // 2.4 kW, far below target
        var room0 = Reading(start, "roomTemperature");

        time.Advance(TimeSpan.FromHours(3));
        var later = await cloud.GetJsonAsync("api/v1/devices/vx-1002");
        Assert.True(Reading(later, "roomTemperature") > room0 + 3, "the room did not warm");
        Assert.InRange(later.GetProperty("powerW").GetDouble(), 200, 800);          // holding: ~15 % of rated
        Assert.StartsWith("Holding", later.GetProperty("readings").GetProperty("display").GetProperty("value").GetString(), StringComparison.Ordinal);

        await cloud.SwitchAsync("vx-1002", false);
        time.Advance(TimeSpan.FromHours(3));
        Assert.True(Reading(await cloud.GetJsonAsync("api/v1/devices/vx-1002"), "roomTemperature") < Reading(later, "roomTemperature") - 3, "the room did not cool");
    }

    [Fact]
    public async Task The_same_seed_and_clock_give_the_same_fleet()
    {
        var (a, timeA) = await Cloud.StartFakeAsync(o => o.Seed = 77);
        var (b, timeB) = await Cloud.StartFakeAsync(o => o.Seed = 77);
        var (c, timeC) = await Cloud.StartFakeAsync(o => o.Seed = 78);
        await using var _1 = a;
        await using var _2 = b;
        await using var _3 = c;

        foreach (var time in new[] { timeA, timeB, timeC })
            time.Advance(TimeSpan.FromMinutes(95));

        var fleetA = await a.Http.GetStringAsync("api/v1/devices");
        Assert.Equal(fleetA, await b.Http.GetStringAsync("api/v1/devices"));
        Assert.NotEqual(fleetA, await c.Http.GetStringAsync("api/v1/devices"));
        Assert.Equal(await a.Http.GetStringAsync("api/v1/devices/vx-1002"), await b.Http.GetStringAsync("api/v1/devices/vx-1002"));
    }

    [Fact]
    public async Task A_long_gap_between_reads_is_caught_up_quickly()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        await cloud.SwitchAsync("vx-1003", true);

        time.Advance(TimeSpan.FromDays(30));
        var status = await cloud.GetJsonAsync("api/v1/devices/vx-1003");
        Assert.InRange(Reading(status, "stateOfCharge"), 20, 100);
    }

    private static double Reading(JsonElement status, string name) =>
        status.GetProperty("readings").GetProperty(name).GetProperty("value").GetDouble();
}
