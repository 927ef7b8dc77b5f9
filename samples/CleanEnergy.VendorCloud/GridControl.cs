using CleanEnergy.VendorCloud.Grid;
using CleanEnergy.VendorCloud.Simulation;

namespace CleanEnergy.VendorCloud;

/// <summary>
/// The simulated grid carbon-intensity signal (<c>GET /api/v1/grid/intensity</c>) and its override
/// (<c>PUT /admin/grid</c>), reachable in-process from <see cref="VendorCloudHandle.Grid"/>. In
/// <see cref="GridMode.Auto"/> the value follows a daily shape in the configured time zone (low at night and at the
/// midday solar peak, high in the evening peak) plus a slow multi-day "weather" swing and noise that changes every
/// five minutes, within 80–450 gCO2/kWh; the same seed and time give the same value.
/// </summary>
public sealed class GridControl
{
    /// <summary>The intensity in <see cref="GridMode.Clean"/> mode, gCO2/kWh.</summary>
    public const double CleanIntensity = 90;

    /// <summary>The intensity in <see cref="GridMode.Dirty"/> mode, gCO2/kWh.</summary>
    public const double DirtyIntensity = 430;

    private readonly Lock _gate = new();
    private readonly GridShape _shape;
    private readonly TimeProvider _time;
    private GridMode _mode;
    private double _fixed;

    internal GridControl(int seed, TimeZoneInfo zone, TimeProvider time)
    {
        _shape = new GridShape(seed, zone);
        _time = time;
    }

    /// <summary>The mode now in force.</summary>
    public GridMode Mode
    {
        get { lock (_gate) return _mode; }
    }

    /// <summary>The signal now.</summary>
    public GridReading Read()
    {
        var now = _time.GetUtcNow();
        GridMode mode;
        double fixedValue;
        lock (_gate) (mode, fixedValue) = (_mode, _fixed);
        var intensity = mode switch
        {
            GridMode.Clean => CleanIntensity,
            GridMode.Dirty => DirtyIntensity,
            GridMode.Fixed => fixedValue,
            _ => _shape.IntensityAt(now),
        };
        return new GridReading(intensity, "gCO2/kWh", GridShape.Level(intensity), mode, now);
    }

    /// <summary>Switches to <see cref="GridMode.Auto"/>, <see cref="GridMode.Clean"/> or <see cref="GridMode.Dirty"/>.</summary>
    /// <exception cref="ArgumentException"><see cref="GridMode.Fixed"/> (use <see cref="SetIntensity"/>) or an undefined mode.</exception>
    public void SetMode(GridMode mode)
    {
        if (mode is not (GridMode.Auto or GridMode.Clean or GridMode.Dirty))
            throw new ArgumentException("The mode must be auto, clean or dirty; a fixed value is set with SetIntensity.", nameof(mode));
        lock (_gate) _mode = mode;
    }

    /// <summary>Holds the signal at <paramref name="gramsPerKWh"/> (mode <see cref="GridMode.Fixed"/>) until another override.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 0 and 2,000.</exception>
    public void SetIntensity(double gramsPerKWh)
    {
        if (!(gramsPerKWh is >= 0 and <= 2000))
            throw new ArgumentOutOfRangeException(nameof(gramsPerKWh), gramsPerKWh, "The intensity must be between 0 and 2000 gCO2/kWh.");
        lock (_gate) (_mode, _fixed) = (GridMode.Fixed, Math.Round(gramsPerKWh, 1));
    }

    internal static TimeZoneInfo ResolveZone(string? id) =>
        id is { Length: > 0 } && Zones.TryFind(id, out var zone) ? zone : TimeZoneInfo.Local;
}

/// <summary>Where the grid signal comes from.</summary>
public enum GridMode
{
    /// <summary>The simulated daily shape with weather and noise.</summary>
    Auto,

    /// <summary>Held at <see cref="GridControl.CleanIntensity"/> (90 gCO2/kWh).</summary>
    Clean,

    /// <summary>Held at <see cref="GridControl.DirtyIntensity"/> (430 gCO2/kWh).</summary>
    Dirty,

    /// <summary>Held at a value set with <c>{"intensity": …}</c>.</summary>
    Fixed,
}

/// <summary>
/// One grid signal reading: <c>{"intensity":231,"unit":"gCO2/kWh","level":"moderate","mode":"auto","at":"…"}</c>.
/// <paramref name="Level"/> is <c>low</c> below 150, <c>moderate</c> below 300, else <c>high</c>.
/// </summary>
public sealed record GridReading(double Intensity, string Unit, string Level, GridMode Mode, DateTimeOffset At);
