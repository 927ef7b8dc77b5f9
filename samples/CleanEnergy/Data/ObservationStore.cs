using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Data;

/// <summary>A reading to store: the series name, its typed value and the time it was read.</summary>
internal sealed record Reading(string Name, ObservationKind Kind, double? Number, bool? Bool, string? Text, DateTime Time)
{
    public static Reading OfNumber(string name, double value, DateTime time) => new(name, ObservationKind.Number, value, null, null, time);
    public static Reading OfOnOff(string name, bool value, DateTime time) => new(name, ObservationKind.OnOff, null, value, null, time);
}

/// <summary>
/// Writes and reads observations. Writes are idempotent: each reading is an <c>INSERT … ON CONFLICT (source, name,
/// time) DO NOTHING</c> against the unique index, so a redelivered task (or two workers polling at once) stores a
/// reading once without a racy check-then-insert; SQLite and PostgreSQL both speak this form. A batch is written in key
/// order: on PostgreSQL a conflicting insert waits for the other transaction's row, so two writers of the same readings
/// in different orders would deadlock (SQLite, with one writer at a time, never shows it).
/// </summary>
internal sealed class ObservationStore(EnergyDb db)
{
    /// <summary>Stores the readings of a device (or the grid, when <paramref name="deviceId"/> is null); returns how many were new.</summary>
    public async Task<int> AddAsync(int? deviceId, IReadOnlyCollection<Reading> readings, CancellationToken cancellationToken)
    {
        if (readings.Count == 0) return 0;
        var source = deviceId is { } id ? Observation.SourceOf(id) : Observation.GridSource;
        var inserted = 0;
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            inserted = 0;
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            foreach (var r in readings.OrderBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Time))
            {
                var kind = EnergyDb.KindName(r.Kind);
                var time = DateTime.SpecifyKind(r.Time, DateTimeKind.Utc);
                inserted += await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO "observations" ("device_id", "source", "name", "kind", "number_value", "bool_value", "text_value", "time")
                    VALUES ({deviceId}, {source}, {r.Name}, {kind}, {r.Number}, {r.Bool}, {r.Text}, {time})
                    ON CONFLICT ("source", "name", "time") DO NOTHING
                    """, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        });
        return inserted;
    }

    /// <summary>The newest observation of a series, or null.</summary>
    public Task<Observation?> LatestAsync(string source, string name, CancellationToken cancellationToken) =>
        db.Observations.AsNoTracking()
            .Where(o => o.Source == source && o.Name == name)
            .OrderByDescending(o => o.Time)
            .FirstOrDefaultAsync(cancellationToken);

    /// <summary>The newest grid intensity (gCO2/kWh), or null when none was stored yet.</summary>
    public Task<Observation?> LatestGridAsync(CancellationToken cancellationToken) =>
        LatestAsync(Observation.GridSource, GridNames.Intensity, cancellationToken);

    /// <summary>The sum of the newest <c>power</c> reading of every reachable device (W).</summary>
    public async Task<double> TotalPowerAsync(CancellationToken cancellationToken)
    {
        var ids = await db.Devices.AsNoTracking().Where(d => d.Reachable).Select(d => d.Id).ToListAsync(cancellationToken);
        var total = 0.0;
        foreach (var id in ids)
            total += (await LatestAsync(Observation.SourceOf(id), DeviceNames.Power, cancellationToken))?.NumberValue ?? 0;
        return total;
    }
}

/// <summary>Series names of a device.</summary>
internal static class DeviceNames
{
    public const string Power = "power";
    public const string On = "on";
}

/// <summary>Series names of the grid.</summary>
internal static class GridNames
{
    public const string Intensity = "grid.intensity";
}
