using CleanEnergy.Data;
using CleanEnergy.Vendor;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Devices;

/// <summary>
/// Imports the devices the vendor's cloud knows (<c>GET /api/v1/devices</c>) that this app does not have yet, by
/// vendor id. Insert-or-ignore on the unique vendor id, so several processes importing at once add each device once.
/// The vendor's texts are cut to the columns' sizes (PostgreSQL refuses longer ones); a device whose id does not fit is
/// skipped with a warning, since a cut id could name another device.
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
            if (d.VendorId.Length > Device.VendorIdMaxLength)
            {
                LogIdTooLong(d.VendorId[..Device.VendorIdMaxLength], d.VendorId.Length, Device.VendorIdMaxLength);
                continue;
            }
            string name = Cut(d.Name, Device.NameMaxLength), location = Cut(d.Location, Device.LocationMaxLength), kind = Cut(d.Kind, Device.KindMaxLength);
            added += await db.Database.ExecuteSqlAsync($"""
                INSERT INTO "devices" ("name", "location", "vendor_id", "kind", "reachable", "reachable_since")
                VALUES ({name}, {location}, {d.VendorId}, {kind}, {true}, {now})
                ON CONFLICT ("vendor_id") DO NOTHING
                """, cancellationToken);
        }
        if (added > 0) LogImported(added, listed.Count);
        return added;
    }

    private static string Cut(string? text, int max) => text is null ? "" : text.Length > max ? text[..max] : text;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped vendor device {VendorIdStart}…: its id is {Length} characters, over the {Max} this app stores")]
    private partial void LogIdTooLong(string vendorIdStart, int length, int max);

    [LoggerMessage(Level = LogLevel.Information, Message = "Imported {Added} device(s) from the vendor's list of {Listed}")]
    private partial void LogImported(int added, int listed);
}
