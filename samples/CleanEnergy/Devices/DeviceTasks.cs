using CleanEnergy.Data;
using CleanEnergy.Live;
using Celeriac;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Devices;

/// <summary>What <c>devices.poll</c> returns. <see cref="Stored"/> counts the readings that were new.</summary>
internal sealed record PollResult(int DeviceId, bool Reachable, bool? On, double? PowerW, DateTimeOffset? ReportedAt, int Stored);

/// <summary>What <c>devices.switch</c> returns.</summary>
internal sealed record SwitchResult(int DeviceId, bool On, double PowerW, DateTimeOffset ReportedAt);

/// <summary>
/// What <c>devices.decide</c> returns: <see cref="Outcome"/> is <c>switched</c>, <c>unchanged</c> (already in the wanted
/// state), <c>no-grid-signal</c> (nothing recent to decide on) or <c>unreachable</c>.
/// </summary>
internal sealed record Decision(int DeviceId, string Outcome, bool? WantOn, double? Intensity, bool? On);

/// <summary>What a fan-out (<c>devices.poll_all</c>, <c>devices.decide_all</c>) returns: the ids of the tasks it sent.</summary>
internal sealed record FanOut(int Devices, string[] TaskIds, int Duplicates);

/// <summary>Thrown by <c>devices.switch</c> when the device stayed unreachable through the last retry.</summary>
internal sealed class DeviceUnreachableException(string message) : Exception(message);

/// <summary>
/// The device tasks. Each takes a device id (never a device object), loads the device, and talks to the vendor through
/// <see cref="DeviceGateway"/>, which holds the retry and reachability rules. <c>devices.poll</c>,
/// <c>devices.switch</c> and <c>devices.decide</c> run under the lock <c>device:{deviceId}</c> (see
/// <see cref="EnergyTasks"/>), so two of them never talk to one device at once.
/// </summary>
internal static partial class DeviceTasks
{
    /// <summary><c>devices.poll(deviceId)</c>: reads the device's state into observations and pushes it to the dashboard.</summary>
    public static async Task<PollResult> PollAsync(int deviceId, EnergyDb db, DeviceGateway gateway, LiveUpdates live, ILoggerFactory loggers, TaskContext context)
    {
        var device = await LoadAsync(db, deviceId, context.CancellationToken);
        if (await gateway.ReadAsync(device, context) is not { } report)
            return new PollResult(deviceId, false, null, null, null, 0);
        var s = report.Status;
        LogPolled(Logger(loggers), device.Id, device.Name, s.On ? "on" : "off", s.PowerW, report.Stored);
        await live.DeviceStateAsync(device.Id, s.On, s.PowerW, s.ReportedAt, context.CancellationToken);
        return new PollResult(deviceId, true, s.On, s.PowerW, s.ReportedAt, report.Stored);
    }

    /// <summary><c>devices.switch(deviceId, on)</c>: switches the device; fails (dead-lettered) when it stays unreachable.</summary>
    public static async Task<SwitchResult> SwitchAsync(int deviceId, bool on, EnergyDb db, DeviceGateway gateway, LiveUpdates live, ILoggerFactory loggers, TaskContext context)
    {
        var device = await LoadAsync(db, deviceId, context.CancellationToken);
        var report = await gateway.SwitchAsync(device, on, context)
            ?? throw new DeviceUnreachableException($"Device {device.Id} {device.Name} ({device.VendorId}) stayed unreachable through {context.Retries} retries; not switched {(on ? "on" : "off")}.");
        var s = report.Status;
        LogSwitched(Logger(loggers), device.Id, device.Name, s.On ? "on" : "off", "asked for");
        await live.DeviceStateAsync(device.Id, s.On, s.PowerW, s.ReportedAt, context.CancellationToken);
        return new SwitchResult(deviceId, s.On, s.PowerW, s.ReportedAt);
    }

    /// <summary>
    /// <c>devices.decide(deviceId)</c>: the rule. The device should be on while the latest grid intensity is under
    /// <c>Energy:CleanThreshold</c>. Reads the device's actual state from the vendor and switches only when it differs,
    /// so a retried or repeated decision never switches twice (and a switch whose answer timed out, but which took
    /// effect, is seen on the next try).
    /// </summary>
    public static async Task<Decision> DecideAsync(int deviceId, EnergyDb db, ObservationStore observations, DeviceGateway gateway, LiveUpdates live,
        IOptions<EnergyOptions> options, TimeProvider time, ILoggerFactory loggers, TaskContext context)
    {
        var ct = context.CancellationToken;
        var device = await LoadAsync(db, deviceId, ct);
        var grid = await observations.LatestGridAsync(ct);
        if (grid?.NumberValue is not { } intensity || time.GetUtcNow().UtcDateTime - grid.Time > options.Value.GridMaxAge)
        {
            LogNoSignal(Logger(loggers), device.Id, device.Name);
            return new Decision(deviceId, "no-grid-signal", null, null, null);
        }
        var threshold = options.Value.CleanThreshold;
        var wantOn = intensity < threshold;

        if (await gateway.ReadAsync(device, context) is not { } report)
            return new Decision(deviceId, "unreachable", wantOn, intensity, null);
        if (report.Status.On == wantOn)
        {
            LogDecided(Logger(loggers), device.Id, device.Name, intensity, threshold, wantOn ? "on" : "off");
            return new Decision(deviceId, "unchanged", wantOn, intensity, report.Status.On);
        }

        if (await gateway.SwitchAsync(device, wantOn, context) is not { } switched)
            return new Decision(deviceId, "unreachable", wantOn, intensity, report.Status.On);
        var s = switched.Status;
        LogSwitched(Logger(loggers), device.Id, device.Name, s.On ? "on" : "off",
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"grid {intensity:0} gCO2/kWh {(wantOn ? "<" : ">=")} {threshold:0}"));
        await live.DeviceStateAsync(device.Id, s.On, s.PowerW, s.ReportedAt, ct);
        return new Decision(deviceId, "switched", wantOn, intensity, s.On);
    }

    /// <summary><c>devices.poll_all</c>: one <c>devices.poll</c> per device (importing the vendor's devices first when there are none).</summary>
    public static Task<FanOut> PollAllAsync(EnergyDb db, DeviceCatalog catalog, ITaskClient tasks, IOptions<EnergyOptions> options, TaskContext context) =>
        FanOutAsync("devices.poll", db, catalog, tasks, options.Value, context);

    /// <summary><c>devices.decide_all</c>: one <c>devices.decide</c> per device.</summary>
    public static Task<FanOut> DecideAllAsync(EnergyDb db, DeviceCatalog catalog, ITaskClient tasks, IOptions<EnergyOptions> options, TaskContext context) =>
        FanOutAsync("devices.decide", db, catalog, tasks, options.Value, context);

    /// <summary><c>devices.sync</c>: imports the vendor's devices this app does not know yet.</summary>
    public static Task<int> SyncAsync(DeviceCatalog catalog, TaskContext context) => catalog.SyncAsync(context.CancellationToken);

    /// <summary>
    /// The wrapper pattern: one task per device, each with the idempotency key <c>{this task's id}:{deviceId}</c>. A
    /// beat tick's id is <c>beat:{schedule}:{tick}</c>, so a redelivered or re-sent tick sends nothing twice. Each task
    /// expires after <c>Energy:FanOutExpiry</c>, so a stopped worker does not come back to a pile of stale polls.
    /// </summary>
    private static async Task<FanOut> FanOutAsync(string task, EnergyDb db, DeviceCatalog catalog, ITaskClient tasks, EnergyOptions options, TaskContext context)
    {
        var ct = context.CancellationToken;
        var ids = await db.Devices.AsNoTracking().OrderBy(d => d.Id).Select(d => d.Id).ToListAsync(ct);
        if (ids.Count == 0 && await catalog.SyncAsync(ct) > 0)
            ids = await db.Devices.AsNoTracking().OrderBy(d => d.Id).Select(d => d.Id).ToListAsync(ct);
        var sent = new string[ids.Count];
        var duplicates = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            var deviceId = ids[i];
            var handle = await tasks.SendAsync(task, new { deviceId }, o =>
            {
                o.IdempotencyKey = $"{context.Id}:{deviceId}";
                o.ExpiresIn = options.FanOutExpiry;
            }, ct);
            sent[i] = handle.Id;
            if (handle.WasDuplicate) duplicates++;
        }
        return new FanOut(ids.Count, sent, duplicates);
    }

    private static ILogger Logger(ILoggerFactory loggers) => loggers.CreateLogger("CleanEnergy.Devices");

    private static async Task<Device> LoadAsync(EnergyDb db, int deviceId, CancellationToken cancellationToken) =>
        await db.Devices.FirstOrDefaultAsync(d => d.Id == deviceId, cancellationToken)
        ?? throw new ArgumentException($"No device has id {deviceId}.", nameof(deviceId));

    [LoggerMessage(Level = LogLevel.Information, Message = "Polled device {DeviceId} {Name}: {State}, {PowerW} W ({Stored} new readings)")]
    private static partial void LogPolled(ILogger logger, int deviceId, string name, string state, double powerW, int stored);

    [LoggerMessage(Level = LogLevel.Information, Message = "Decided device {DeviceId} {Name}: grid {Intensity} gCO2/kWh vs threshold {Threshold}: stays {State}")]
    private static partial void LogDecided(ILogger logger, int deviceId, string name, double intensity, double threshold, string state);

    [LoggerMessage(Level = LogLevel.Information, Message = "Switched device {DeviceId} {Name} {State} ({Why})")]
    private static partial void LogSwitched(ILogger logger, int deviceId, string name, string state, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "No decision for device {DeviceId} {Name}: no recent grid signal yet")]
    private static partial void LogNoSignal(ILogger logger, int deviceId, string name);
}
