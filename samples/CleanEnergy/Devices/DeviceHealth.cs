using CleanEnergy.Data;
using Celeriac;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Devices;

/// <summary>What <c>alerts.device.offline</c> and <c>alerts.device.online</c> carry.</summary>
internal sealed record DeviceAlert(int DeviceId, string VendorId, string Name, string Text, DateTime Since);

/// <summary>
/// Whether a device is reachable, and the alerts when that changes: exactly one <c>alerts.device.offline</c> per
/// outage and one <c>alerts.device.online</c> when it ends.
/// <para>
/// Each change is one conditional <c>UPDATE</c> (<c>… where reachable = true</c>, or <c>= false</c>); the database
/// runs it atomically, so of all the tasks that find a device down at the same time (polls, decisions, switches, in
/// any number of workers) exactly one flips the flag and sees one row changed, and only that one publishes. Every
/// other one sees zero rows and publishes nothing. A device is only marked down by a call that started after its last
/// successful call (<see cref="Device.LastSeenAt"/>): a slow task whose retries ran out just after a newer call got an
/// answer does not start a false outage.
/// </para>
/// <para>
/// The flag is changed before the event is published: if the process dies in between, that alert is lost (the
/// state is right, the notification missing), never doubled.
/// </para>
/// </summary>
internal sealed partial class DeviceHealth(EnergyDb db, IEventBus events, TimeProvider time, ILogger<DeviceHealth> logger)
{
    public const string OfflineSubject = "alerts.device.offline";
    public const string OnlineSubject = "alerts.device.online";

    /// <summary>Records a successful call; when the device was unreachable, flips it back and publishes <c>alerts.device.online</c>.</summary>
    public async Task SeenAsync(Device device, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var flipped = await db.Devices.Where(d => d.Id == device.Id && !d.Reachable)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Reachable, true).SetProperty(d => d.ReachableSince, now).SetProperty(d => d.LastSeenAt, now), cancellationToken);
        if (flipped == 0)
        {
            await db.Devices.Where(d => d.Id == device.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.LastSeenAt, now), cancellationToken);
            return;
        }
        device.Reachable = true;
        device.ReachableSince = now;
        var text = $"{device.Name} ({device.VendorId}) answers again";
        LogOnline(device.Id, device.Name, device.VendorId);
        await events.PublishAsync(OnlineSubject, new DeviceAlert(device.Id, device.VendorId, device.Name, text, now), CancellationToken.None);
    }

    /// <summary>
    /// Records that a call begun at <paramref name="attemptStartedAt"/> still failed after its last retry; when this
    /// starts an outage, publishes <c>alerts.device.offline</c> (once per outage). Returns whether it started one.
    /// </summary>
    public async Task<bool> UnreachableAsync(Device device, DateTime attemptStartedAt, Exception error, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var flipped = await db.Devices
            .Where(d => d.Id == device.Id && d.Reachable && (d.LastSeenAt == null || d.LastSeenAt < attemptStartedAt))
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Reachable, false).SetProperty(d => d.ReachableSince, now), cancellationToken);
        if (flipped == 0) return false;
        device.Reachable = false;
        device.ReachableSince = now;
        var text = $"{device.Name} ({device.VendorId}) is unreachable: {error.Message}";
        LogOffline(device.Id, device.Name, device.VendorId, error.Message);
        await events.PublishAsync(OfflineSubject, new DeviceAlert(device.Id, device.VendorId, device.Name, text, now), CancellationToken.None);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {DeviceId} {Name} ({VendorId}) is unreachable after its last retry: {Error}; published alerts.device.offline")]
    private partial void LogOffline(int deviceId, string name, string vendorId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {DeviceId} {Name} ({VendorId}) answers again; published alerts.device.online")]
    private partial void LogOnline(int deviceId, string name, string vendorId);
}
