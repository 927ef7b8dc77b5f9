using CleanEnergy.Data;
using CleanEnergy.Live;
using CleanEnergy.Vendor;
using Celeriac;

namespace CleanEnergy.Grid;

/// <summary>What <c>grid.refresh</c> returns.</summary>
internal sealed record GridRefresh(double Intensity, DateTimeOffset At, double TotalPowerW, bool Stored);

/// <summary>The grid signal and the clock.</summary>
internal static partial class GridTasks
{
    /// <summary>
    /// <c>grid.refresh</c>: reads the carbon intensity from the vendor's cloud, stores it as the observation
    /// <c>grid.intensity</c> at the vendor's time (idempotent, as for devices) and pushes it with the total power of the
    /// devices to the dashboard. Vendor failures are retried by the task's policy; a tick that keeps failing simply
    /// expires when the next one is due.
    /// </summary>
    public static async Task<GridRefresh> RefreshAsync(VendorClient vendor, ObservationStore observations, LiveUpdates live, ILoggerFactory loggers, TaskContext context)
    {
        var ct = context.CancellationToken;
        var reading = await vendor.GetGridIntensityAsync(ct);
        var stored = await observations.AddAsync(null, [Reading.OfNumber(GridNames.Intensity, reading.Intensity, reading.At.UtcDateTime)], ct);
        var total = Math.Round(await observations.TotalPowerAsync(ct), 1);
        LogGrid(loggers.CreateLogger("CleanEnergy.Grid"), reading.Intensity, total);
        await live.GridIntensityAsync(reading.Intensity, total, reading.At, ct);
        return new GridRefresh(reading.Intensity, reading.At, total, stored > 0);
    }

    /// <summary><c>clock.tick</c>: the server time to the <c>time</c> group (every 0.5 s by default).</summary>
    public static Task TickAsync(LiveUpdates live, TimeProvider time, CancellationToken cancellationToken) =>
        live.ClockTickAsync(time.GetUtcNow(), cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Grid intensity {Intensity} gCO2/kWh; devices draw {TotalPowerW} W")]
    private static partial void LogGrid(ILogger logger, double intensity, double totalPowerW);
}
