using Celeriac;

namespace CleanEnergy.Live;

/// <summary>
/// Pushes what changed to WebSocket groups through the channel layer (any process may send; the web processes deliver
/// to the members they hold). The message shapes are the contract with the dashboard page:
/// <list type="bullet">
/// <item><c>dashboard</c>: <c>{ type: "device.state", deviceId, on, powerW, at }</c> after a poll or switch;
/// <c>{ type: "grid.intensity", value, totalPowerW, at }</c> after each grid refresh;</item>
/// <item><c>alerts</c>: <c>{ type: "alert", id, subject, text, at }</c> for every event on <c>alerts.&gt;</c> (<c>id</c> is the event's);</item>
/// <item><c>time</c>: <c>{ type: "clock.tick", now }</c> every 0.5 s.</item>
/// </list>
/// A push is best effort: the data is already stored, so a failed push is logged and the task goes on (it must not
/// redo a vendor call just to repeat a live update).
/// </summary>
internal sealed partial class LiveUpdates(IChannelLayer channels, ILogger<LiveUpdates> logger)
{
    public const string DashboardGroup = "dashboard";
    public const string AlertsGroup = "alerts";
    public const string TimeGroup = "time";

    public Task DeviceStateAsync(int deviceId, bool on, double powerW, DateTimeOffset at, CancellationToken cancellationToken) =>
        SendAsync(DashboardGroup, new { type = "device.state", deviceId, on, powerW, at }, cancellationToken);

    public Task GridIntensityAsync(double value, double totalPowerW, DateTimeOffset at, CancellationToken cancellationToken) =>
        SendAsync(DashboardGroup, new { type = "grid.intensity", value, totalPowerW, at }, cancellationToken);

    public Task AlertAsync(string id, string subject, string text, DateTimeOffset at, CancellationToken cancellationToken) =>
        SendAsync(AlertsGroup, new { type = "alert", id, subject, text, at }, cancellationToken);

    public Task ClockTickAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        SendAsync(TimeGroup, new { type = "clock.tick", now }, cancellationToken);

    private async Task SendAsync(string group, object message, CancellationToken cancellationToken)
    {
        try
        {
            await channels.GroupSendAsync(group, message, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPushFailed(e, group);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Live update to group {Group} failed")]
    private partial void LogPushFailed(Exception exception, string group);
}
