using CleanEnergy.Data;
using CleanEnergy.Vendor;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Devices;

/// <summary>
/// Imports the devices the vendor's cloud knows (<c>GET /api/v1/devices</c>) that this app does not have yet, by
/// vendor id. Insert-or-ignore on the unique vendor id, so several processes importing at once add each device once.
/// </summary>
internal sealed partial class DeviceCatalog(EnergyDb db, VendorClient vendor, TimeProvider time, ILogger<DeviceCatalog> logger)
{
    /// <summary>Adds the missing devices; returns how many were added.</summary>
    public async Task<int> SyncAsync(CancellationToken cancellationToken)
    {
        var listed = await vendor.ListDevicesAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var added = 0;
        foreach (var d in listed)
        {
            added += await db.Database.ExecuteSqlAsync($"""
                INSERT INTO "devices" ("name", "location", "vendor_id", "kind", "reachable", "reachable_since")
                VALUES ({d.Name}, {d.Location}, {d.VendorId}, {d.Kind}, {true}, {now})
                ON CONFLICT ("vendor_id") DO NOTHING
                """, cancellationToken);
        }
        if (added > 0) LogImported(added, listed.Count);
        return added;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Imported {Added} device(s) from the vendor's list of {Listed}")]
    private partial void LogImported(int added, int listed);
}
