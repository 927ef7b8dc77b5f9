using CleanEnergy.VendorCloud.Simulation;

namespace CleanEnergy.VendorCloud.Grid;

/// <summary>
/// The automatic grid signal: a daily shape by local hour (wind at night, a solar dip at midday, the evening peak
/// when gas plants follow demand), a ±25 g swing over a few days (weather), and ±12 g of noise held for five-minute
/// slots (a real intensity feed updates every few minutes), clamped to 80–450 gCO2/kWh.
/// </summary>
internal sealed class GridShape(int seed, TimeZoneInfo zone)
{
    private static readonly (double Hour, double Grams)[] Day =
    [
        (0, 165), (3, 140), (5, 150), (7, 280), (9, 270), (11, 150), (12.5, 110), (14, 125),
        (16, 250), (18, 420), (19.5, 430), (21, 330), (23, 200), (24, 165),
    ];

    private const double Min = 80, Max = 450;
    private const int SlotSeconds = 300;
    private const long GridStream = -1;
    private readonly double _weatherPhase = Noise.Unit(seed, GridStream, long.MinValue) * 2 * Math.PI;

    /// <summary>The value for the five-minute slot that holds <paramref name="at"/> (computed at the slot's start).</summary>
    public double IntensityAt(DateTimeOffset at)
    {
        var slot = Math.Floor(at.ToUnixTimeMilliseconds() / 1000.0 / SlotSeconds);
        var slotStart = DateTimeOffset.FromUnixTimeSeconds((long)slot * SlotSeconds);
        var hour = TimeZoneInfo.ConvertTime(slotStart, zone).TimeOfDay.TotalHours;
        var weather = 25 * Math.Sin(2 * Math.PI * slotStart.ToUnixTimeSeconds() / (3.7 * 86_400) + _weatherPhase);
        var noise = 12 * Noise.Signed(seed, GridStream, (long)slot);
        return Math.Round(Math.Clamp(Shape(hour) + weather + noise, Min, Max));
    }

    public static string Level(double intensity) => intensity switch
    {
        < 150 => "low",
        < 300 => "moderate",
        _ => "high",
    };

    private static double Shape(double hour)
    {
        for (var i = 1; i < Day.Length; i++)
        {
            if (hour <= Day[i].Hour)
            {
                var (h0, g0) = Day[i - 1];
                var (h1, g1) = Day[i];
                return g0 + (g1 - g0) * (hour - h0) / (h1 - h0);
            }
        }
        return Day[^1].Grams;
    }
}
