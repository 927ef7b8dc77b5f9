using CleanEnergy.Data;
using CleanEnergy.Observations;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Tests;

/// <summary>Runs on SQLite and on PostgreSQL: see <see cref="EnergyDatabaseTests"/>.</summary>
public abstract class RollupTests(PostgresServer? postgres) : EnergyDatabaseTests(postgres)
{
    [Fact]
    public async Task Rollup_keeps_recent_raw_rows_and_folds_old_ones_into_hourly_aggregates_once()
    {
        await using var app = await StartAppAsync(settings: new Dictionary<string, string?> { ["Energy:RawRetentionDays"] = "7" });
        var device = (await app.DevicesAsync())[0];
        var source = Observation.SourceOf(device.Id);
        var now = DateTime.UtcNow;
        var oldHour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddDays(-10);
        Observation Number(string name, double value, DateTime time) => new() { DeviceId = device.Id, Source = source, Name = name, Kind = ObservationKind.Number, NumberValue = value, Time = time };
        Observation OnOff(bool value, DateTime time) => new() { DeviceId = device.Id, Source = source, Name = "on", Kind = ObservationKind.OnOff, BoolValue = value, Time = time };

        await app.WithDbAsync(async db =>
        {
            db.Observations.AddRange(
                Number("power", 10, oldHour.AddMinutes(5)),
                Number("power", 20, oldHour.AddMinutes(10)),
                Number("power", 30, oldHour.AddMinutes(50)),
                Number("power", 40, oldHour.AddHours(1).AddMinutes(1)),
                OnOff(true, oldHour.AddMinutes(5)),
                OnOff(false, oldHour.AddMinutes(10)),
                new Observation { DeviceId = device.Id, Source = source, Name = "display", Kind = ObservationKind.Text, TextValue = "Holding 21 °C", Time = oldHour.AddMinutes(5) },
                new Observation { Source = Observation.GridSource, Name = GridNames.Intensity, Kind = ObservationKind.Number, NumberValue = 300, Time = oldHour.AddMinutes(7) },
                Number("power", 50, now.AddDays(-1)),
                Number("power", 60, now.AddHours(-2)),
                new Observation { Source = Observation.GridSource, Name = GridNames.Intensity, Kind = ObservationKind.Number, NumberValue = 120, Time = now.AddMinutes(-3) });
            return await db.SaveChangesAsync();
        });

        var first = await app.RunOkAsync<RollupResult>("observations.rollup");
        Assert.Equal(8, first.RawRows);
        Assert.Equal(5, first.HourlyRows);   // power ×2 hours, on, display, grid

        var aggregates = await app.WithDbAsync(db => db.HourlyAggregates.AsNoTracking().ToListAsync());
        HourlyAggregate Get(string s, string name, DateTime hour) => aggregates.Single(a => a.Source == s && a.Name == name && a.Hour == hour);
        var power = Get(source, "power", oldHour);
        Assert.Equal((3, 10.0, 30.0, 20.0), (power.Count, power.Min!.Value, power.Max!.Value, power.Avg!.Value));
        Assert.Equal(device.Id, power.DeviceId);
        Assert.Equal((1, 40.0), (Get(source, "power", oldHour.AddHours(1)).Count, Get(source, "power", oldHour.AddHours(1)).Avg!.Value));
        Assert.Equal(0.5, Get(source, "on", oldHour).Avg);   // on for half the readings of that hour
        var display = Get(source, "display", oldHour);
        Assert.Equal((1, (double?)null), (display.Count, display.Avg));
        var grid = Get(Observation.GridSource, GridNames.Intensity, oldHour);
        Assert.Equal((1, 300.0, (int?)null), (grid.Count, grid.Avg!.Value, grid.DeviceId));

        // Recent raw rows stay; no old raw row is left.
        var raw = await app.WithDbAsync(db => db.Observations.AsNoTracking().Where(o => o.Source == source || o.Source == Observation.GridSource).ToListAsync());
        Assert.Equal(3, raw.Count);
        Assert.All(raw, o => Assert.True(o.Time > now.AddDays(-7)));

        // Running it again changes nothing.
        var second = await app.RunOkAsync<RollupResult>("observations.rollup");
        Assert.Equal(0, second.RawRows);
        var unchanged = await app.WithDbAsync(db => db.HourlyAggregates.AsNoTracking().ToListAsync());
        Assert.Equal(aggregates.Select(a => (a.Id, a.Count, a.Avg)).OrderBy(a => a.Id), unchanged.Select(a => (a.Id, a.Count, a.Avg)).OrderBy(a => a.Id));

        // A late old reading of an hour already rolled up is merged into it.
        await app.WithDbAsync(async db =>
        {
            db.Observations.Add(Number("power", 60, oldHour.AddMinutes(55)));
            return await db.SaveChangesAsync();
        });
        var third = await app.RunOkAsync<RollupResult>("observations.rollup");
        Assert.Equal(1, third.RawRows);
        var merged = await app.WithDbAsync(db => db.HourlyAggregates.AsNoTracking().SingleAsync(a => a.Source == source && a.Name == "power" && a.Hour == oldHour));
        Assert.Equal((4, 10.0, 60.0, 30.0), (merged.Count, merged.Min!.Value, merged.Max!.Value, merged.Avg!.Value));
    }

    [Fact]
    public async Task Rollups_running_at_once_count_every_raw_row_exactly_once()
    {
        await using var app = await StartAppAsync();
        var device = (await app.DevicesAsync())[0];
        var source = Observation.SourceOf(device.Id);
        var now = DateTime.UtcNow;
        var hour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddDays(-10);
        await app.WithDbAsync(async db =>
        {
            db.Observations.AddRange(Enumerable.Range(0, 240).Select(i => new Observation
            {
                DeviceId = device.Id, Source = source, Name = "power", Kind = ObservationKind.Number, NumberValue = i, Time = hour.AddSeconds(30 * i),
            }));
            return await db.SaveChangesAsync();
        });

        // Four runs at once (the task's lock normally prevents it): each raw row is folded by exactly one of them.
        var runs = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            app.WithServiceAsync<ObservationRollup, RollupResult>(r => r.RunAsync(default)))));
        Assert.Equal(240, runs.Sum(r => r.RawRows));
        var hours = await app.WithDbAsync(db => db.HourlyAggregates.AsNoTracking().Where(a => a.Source == source).OrderBy(a => a.Hour).ToListAsync());
        Assert.Equal([hour, hour.AddHours(1)], hours.Select(a => a.Hour));
        Assert.Equal([(120, 0.0, 119.0, 59.5), (120, 120.0, 239.0, 179.5)], hours.Select(a => (a.Count, a.Min!.Value, a.Max!.Value, a.Avg!.Value)));
        Assert.Equal(0, await app.WithDbAsync(db => db.Observations.CountAsync(o => o.Source == source)));
    }
}
