using CleanEnergy.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Observations;

/// <summary>What <c>observations.rollup</c> returns.</summary>
internal sealed record RollupResult(DateTime Cutoff, int RawRows, int HourlyRows);

/// <summary>
/// <c>observations.rollup</c>: raw observations are kept for <c>Energy:RawRetentionDays</c> (default 7); older ones are
/// folded into <see cref="HourlyAggregate"/> rows (one per series and hour) and deleted.
/// <para>
/// Idempotent and safe to run twice at once: it works in batches, and each batch is one transaction that first deletes
/// exactly the raw rows it read and then merges them into the hourly rows. If the delete finds fewer rows than were
/// read (another run took them), the transaction is rolled back and the batch read again, so every raw row is counted
/// in exactly one hourly row. Hourly rows are merged, not replaced, so an hour whose raw rows age out in two runs
/// (or arrive late) ends up with the right count, min, max and average. A run with nothing old changes nothing.
/// </para>
/// </summary>
internal sealed partial class ObservationRollup(EnergyDb db, IOptions<EnergyOptions> options, TimeProvider time, ILogger<ObservationRollup> logger)
{
    private const int BatchSize = 5000;

    public async Task<RollupResult> RunAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().UtcDateTime.AddDays(-options.Value.RawRetentionDays);
        var rawRows = 0;
        var hours = new HashSet<(string, string, DateTime)>();
        while (true)
        {
            db.ChangeTracker.Clear();
            var batch = await db.Observations.AsNoTracking()
                .Where(o => o.Time < cutoff)
                .OrderBy(o => o.Id)
                .Take(BatchSize)
                .ToListAsync(cancellationToken);
            if (batch.Count == 0) break;
            if (await TryFoldAsync(batch, hours, cancellationToken))
                rawRows += batch.Count;
        }
        if (rawRows > 0) LogRolledUp(rawRows, hours.Count, cutoff);
        return new RollupResult(cutoff, rawRows, hours.Count);
    }

    private async Task<bool> TryFoldAsync(List<Observation> batch, HashSet<(string, string, DateTime)> hours, CancellationToken cancellationToken)
    {
        var ids = batch.Select(o => o.Id).ToList();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var deleted = await db.Observations.Where(o => ids.Contains(o.Id)).ExecuteDeleteAsync(cancellationToken);
        if (deleted != batch.Count)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }
        foreach (var series in batch.GroupBy(o => (o.Source, o.DeviceId, o.Name, Hour: HourOf(o.Time))))
        {
            var values = series.Select(ValueOf).OfType<double>().ToList();
            var (source, deviceId, name, hour) = series.Key;
            var row = await db.HourlyAggregates.FirstOrDefaultAsync(a => a.Source == source && a.Name == name && a.Hour == hour, cancellationToken);
            if (row is null)
            {
                row = new HourlyAggregate { Source = source, DeviceId = deviceId, Name = name, Hour = hour };
                db.HourlyAggregates.Add(row);
            }
            if (values.Count > 0)
            {
                var numeric = row.Avg is null ? 0 : row.Count;   // text and choice hours carry no average
                row.Min = row.Min is { } min ? Math.Min(min, values.Min()) : values.Min();
                row.Max = row.Max is { } max ? Math.Max(max, values.Max()) : values.Max();
                row.Avg = ((row.Avg ?? 0) * numeric + values.Sum()) / (numeric + values.Count);
            }
            row.Count += series.Count();
            hours.Add((source, name, hour));
        }
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static DateTime HourOf(DateTime time) => new(time.Year, time.Month, time.Day, time.Hour, 0, 0, DateTimeKind.Utc);

    /// <summary>A number as is, on/off as 1/0 (so the hour's average is the share of it spent on); text and choice have none.</summary>
    private static double? ValueOf(Observation o) => o.Kind switch
    {
        ObservationKind.Number => o.NumberValue,
        ObservationKind.OnOff => o.BoolValue is { } on ? (on ? 1 : 0) : null,
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Rolled up {RawRows} raw observations older than {Cutoff:O} into {HourlyRows} hourly aggregates")]
    private partial void LogRolledUp(int rawRows, int hourlyRows, DateTime cutoff);
}
