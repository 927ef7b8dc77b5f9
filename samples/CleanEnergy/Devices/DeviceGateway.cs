using System.Text.Json;
using CleanEnergy.Data;
using CleanEnergy.Vendor;
using Celeriac;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Devices;

/// <summary>A device's state as the vendor reported it, and how many of its readings were new.</summary>
internal sealed record DeviceReport(VendorDeviceStatus Status, int Stored);

/// <summary>
/// Vendor calls for one device inside a task, with the retry decision in one place:
/// <list type="number">
/// <item>the call succeeds: the device is marked seen (and back online if it was not) and the answer returned;</item>
/// <item>it fails transiently (timeout, 5xx, no connection) while retries remain
/// (<c>context.Retries &lt; Energy:Retry:MaxRetries</c>): <c>throw context.Retry(reason: error)</c>, so the worker
/// puts the task back in its queue with the task's backoff and jitter;</item>
/// <item>it fails transiently on the last try: the device is marked unreachable (which raises the one alert per
/// outage, see <see cref="DeviceHealth"/>) and <see langword="null"/> is returned, so the task ends on its own terms
/// instead of landing in the dead-letter store every few seconds for as long as the device is down.</item>
/// </list>
/// A permanent failure (a 4xx: unknown device, bad request) is thrown as is and fails the task at once.
/// </summary>
internal sealed class DeviceGateway(VendorClient vendor, DeviceHealth health, ObservationStore observations, IOptions<EnergyOptions> options, TimeProvider time)
{
    private readonly int _maxRetries = options.Value.Retry.MaxRetries;

    /// <summary>The device's state, stored as observations; null when it stayed unreachable through the last retry.</summary>
    public async Task<DeviceReport?> ReadAsync(Device device, TaskContext context)
    {
        var status = await GuardAsync(device, context, ct => vendor.GetDeviceAsync(device.Id, device.VendorId, ct));
        return status is null ? null : new DeviceReport(status, await StoreAsync(device, status, context.CancellationToken));
    }

    /// <summary>Switches the device and stores its new state; null when it stayed unreachable through the last retry.</summary>
    public async Task<DeviceReport?> SwitchAsync(Device device, bool on, TaskContext context)
    {
        var status = await GuardAsync(device, context, ct => vendor.SetPowerAsync(device.Id, device.VendorId, on, ct));
        return status is null ? null : new DeviceReport(status, await StoreAsync(device, status, context.CancellationToken));
    }

    private async Task<T?> GuardAsync<T>(Device device, TaskContext context, Func<CancellationToken, Task<T>> call) where T : class
    {
        var started = time.GetUtcNow().UtcDateTime;
        T result;
        try
        {
            result = await call(context.CancellationToken);
        }
        catch (Exception e) when (VendorErrors.IsTransient(e))
        {
            if (context.Retries < _maxRetries) throw context.Retry(reason: e);
            await health.UnreachableAsync(device, started, e, context.CancellationToken);
            return null;
        }
        await health.SeenAsync(device, context.CancellationToken);
        return result;
    }

    /// <summary>Stores a state as observations at the vendor's <c>reportedAt</c> (idempotent: the same report twice stores nothing new).</summary>
    public Task<int> StoreAsync(Device device, VendorDeviceStatus status, CancellationToken cancellationToken) =>
        observations.AddAsync(device.Id, ReadingsOf(status), cancellationToken);

    /// <summary>
    /// The observations of one report: <c>on</c> and <c>power</c> (W) from the top-level fields, then every other typed
    /// reading under its vendor name (<c>display</c>, <c>colour</c>, <c>ledColour</c>, <c>roomTemperature</c>, …).
    /// The vendor's own <c>power</c> (on/off) and <c>powerW</c> readings repeat the top-level fields and are skipped.
    /// </summary>
    public static List<Reading> ReadingsOf(VendorDeviceStatus status)
    {
        var time = status.ReportedAt.UtcDateTime;
        var readings = new List<Reading>
        {
            Reading.OfOnOff(DeviceNames.On, status.On, time),
            Reading.OfNumber(DeviceNames.Power, status.PowerW, time),
        };
        foreach (var (name, reading) in status.Readings ?? new Dictionary<string, VendorReading>())
        {
            if (name is "power" or "powerW" || name.Length > 50) continue;
            if (ToReading(name, reading, time) is { } r) readings.Add(r);
        }
        return readings;
    }

    private static Reading? ToReading(string name, VendorReading reading, DateTime time)
    {
        var value = reading.Value;
        return reading.Kind switch
        {
            "number" when value.ValueKind == JsonValueKind.Number => Reading.OfNumber(name, value.GetDouble(), time),
            "onoff" when value.ValueKind is JsonValueKind.True or JsonValueKind.False => Reading.OfOnOff(name, value.GetBoolean(), time),
            "text" when value.ValueKind == JsonValueKind.String => new Reading(name, ObservationKind.Text, null, null, value.GetString(), time),
            "choice" when value.ValueKind == JsonValueKind.String => new Reading(name, ObservationKind.Choice, null, null, value.GetString(), time),
            _ => null,   // a kind or value this app does not know: not stored
        };
    }
}
