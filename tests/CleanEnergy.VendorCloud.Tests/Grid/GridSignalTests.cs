using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace CleanEnergy.VendorCloud.Tests.Grid;

public sealed class GridSignalTests
{
    [Fact]
    public async Task Intensity_is_low_at_night_and_midday_and_high_in_the_evening_peak()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        var midnight = Cloud.Start.Date;

        for (var day = 0; day < 7; day++)     // a week: the slow "weather" swing moves, the shape holds
        {
            var night = await IntensityAtAsync(cloud, time, midnight.AddDays(day).AddHours(3));
            var midday = await IntensityAtAsync(cloud, time, midnight.AddDays(day).AddHours(12.5));
            var evening = await IntensityAtAsync(cloud, time, midnight.AddDays(day).AddHours(18.75));
            Assert.InRange(night, 80, 200);
            Assert.InRange(midday, 80, 180);
            Assert.InRange(evening, 350, 450);
        }
    }

    [Fact]
    public async Task A_whole_day_stays_in_range_and_the_value_holds_for_five_minute_slots()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        time.SetUtcNow(new DateTimeOffset(Cloud.Start.Date.AddDays(1), TimeSpan.Zero));   // the fake clock only moves forward

        var values = new List<double>();
        for (var slot = 0; slot < 288; slot++)
        {
            var reading = await cloud.GetJsonAsync("api/v1/grid/intensity");
            Assert.Equal("gCO2/kWh", reading.GetProperty("unit").GetString());
            Assert.Equal("auto", reading.GetProperty("mode").GetString());
            Assert.Equal(time.GetUtcNow(), reading.GetProperty("at").GetDateTimeOffset());
            var value = reading.GetProperty("intensity").GetDouble();
            Assert.Equal(value < 150 ? "low" : value < 300 ? "moderate" : "high", reading.GetProperty("level").GetString());
            values.Add(value);

            time.Advance(TimeSpan.FromMinutes(4));        // still the same five-minute slot
            Assert.Equal(value, (await cloud.GetJsonAsync("api/v1/grid/intensity")).GetProperty("intensity").GetDouble());
            time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.All(values, v => Assert.InRange(v, 80, 450));
        Assert.True(values.Max() - values.Min() > 200, "no daily shape");
        Assert.True(values.Distinct().Count() > 100, "no noise");
    }

    [Fact]
    public async Task The_override_fixes_the_value_and_auto_restores_the_shape()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        time.SetUtcNow(new DateTimeOffset(Cloud.Start.Date.AddHours(18.75), TimeSpan.Zero));   // evening: dirty
        var auto = (await cloud.GetJsonAsync("api/v1/grid/intensity")).GetProperty("intensity").GetDouble();
        Assert.True(auto > 350);

        var fixedReading = await cloud.PutJsonAsync("admin/grid", """{"intensity": 120}""");
        Assert.Equal(120, fixedReading.GetProperty("intensity").GetDouble());
        await AssertGridAsync(cloud, 120, "fixed", "low");

        await cloud.PutJsonAsync("admin/grid", """{"mode": "dirty"}""");
        await AssertGridAsync(cloud, 430, "dirty", "high");
        await cloud.PutJsonAsync("admin/grid", """{"mode": "clean"}""");
        await AssertGridAsync(cloud, 90, "clean", "low");
        Assert.Equal(GridMode.Clean, cloud.Handle.Grid.Mode);
        Assert.Equal("clean", (await cloud.GetJsonAsync("admin/grid")).GetProperty("mode").GetString());

        await cloud.PutJsonAsync("admin/grid", """{"mode": "auto"}""");
        await AssertGridAsync(cloud, auto, "auto", "high");

        cloud.Handle.Grid.SetIntensity(250);     // in-process, the same control
        await AssertGridAsync(cloud, 250, "fixed", "moderate");
        cloud.Handle.Grid.SetMode(GridMode.Auto);
        await AssertGridAsync(cloud, auto, "auto", "high");

        await cloud.PutJsonAsync("admin/grid", """{"mode": "clean"}""");
        time.Advance(TimeSpan.FromHours(3));     // an override does not follow the clock
        await AssertGridAsync(cloud, 90, "clean", "low");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"mode": "purple"}""")]
    [InlineData("""{"mode": 2}""")]
    [InlineData("""{"mode": "fixed"}""")]
    [InlineData("""{"intensity": -5}""")]
    [InlineData("""{"intensity": 100, "mode": "clean"}""")]
    [InlineData("""{"intensity": 100, "colour": "green"}""")]
    [InlineData("clean")]
    public async Task A_bad_override_is_a_400_problem_and_changes_nothing(string body)
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;
        await cloud.PutJsonAsync("admin/grid", """{"mode": "dirty"}""");

        await Cloud.AssertProblemAsync(await cloud.PutAsync("admin/grid", body), 400);

        Assert.Equal(GridMode.Dirty, cloud.Handle.Grid.Mode);
    }

    private static async Task<double> IntensityAtAsync(Cloud cloud, FakeTimeProvider time, DateTime utc)
    {
        time.SetUtcNow(new DateTimeOffset(utc, TimeSpan.Zero));
        return (await cloud.GetJsonAsync("api/v1/grid/intensity")).GetProperty("intensity").GetDouble();
    }

    private static async Task AssertGridAsync(Cloud cloud, double intensity, string mode, string level)
    {
        JsonElement reading = await cloud.GetJsonAsync("api/v1/grid/intensity");
        Assert.Equal(intensity, reading.GetProperty("intensity").GetDouble());
        Assert.Equal(mode, reading.GetProperty("mode").GetString());
        Assert.Equal(level, reading.GetProperty("level").GetString());
    }
}
