using System.Diagnostics.CodeAnalysis;

namespace CleanEnergy.VendorCloud.Simulation;

internal static class Zones
{
    public static bool TryFind(string id, [NotNullWhen(true)] out TimeZoneInfo? zone)
    {
        if (string.Equals(id, "UTC", StringComparison.OrdinalIgnoreCase))
        {
            zone = TimeZoneInfo.Utc;
            return true;
        }
        return TimeZoneInfo.TryFindSystemTimeZoneById(id, out zone);
    }
}
