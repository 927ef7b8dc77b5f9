using Celeriac.Transport;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>
/// Watches the queues named in <see cref="StallAlertOptions"/>. One process at a time checks (it holds the lock
/// <see cref="LockKey"/> through <see cref="ILockProvider"/>, renewed at each check, so processes that all configure the
/// alert do not alert several times). When a queue's oldest ready message has waited past the threshold, it logs one
/// warning and publishes one <see cref="StalledSubject"/> event; when the queue moves again (nothing ready waits that
/// long), one information line and one <see cref="RecoveredSubject"/> event. Never one per check. A process that takes
/// over from another alerts again for a queue that is still stalled.
/// </summary>
internal sealed partial class StallMonitor(
    ITaskTransport transport,
    ILockProvider locks,
    IEventBus events,
    IOptions<StallAlertOptions> options,
    TimeProvider time,
    ILogger<StallMonitor> logger) : BackgroundService
{
    public const string StalledSubject = "celeriac.queue.stalled";
    public const string RecoveredSubject = "celeriac.queue.recovered";
    public const string LockKey = "alerts:stall-monitor";

    private readonly StallAlertOptions _options = options.Value;
    private readonly Dictionary<string, DateTimeOffset> _stalledSince = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.StalledAfter.Count == 0) return;
        var lease = _options.CheckInterval * 3;
        string? token = null;
        using var timer = new PeriodicTimer(_options.CheckInterval, time);
        try
        {
            do
            {
                try
                {
                    token = token is null
                        ? await locks.TryAcquireAsync(LockKey, lease, stoppingToken).ConfigureAwait(false)
                        : await locks.RenewAsync(LockKey, token, lease, stoppingToken).ConfigureAwait(false) ? token : null;
                    if (token is null)
                    {
                        _stalledSince.Clear();   // another process watches
                        continue;
                    }
                    await CheckAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    LogCheckFailed(logger, e, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (token is not null)
            {
                try { await locks.ReleaseAsync(LockKey, token, CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) { LogCheckFailed(logger, e, e.Message); }
            }
        }
    }

    /// <summary>One check of every watched queue against its threshold.</summary>
    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        var stats = (await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(s => s.Queue, StringComparer.Ordinal);
        var now = time.GetUtcNow();
        foreach (var (queue, threshold) in _options.StalledAfter)
        {
            var s = stats.GetValueOrDefault(queue);
            var oldest = s?.OldestReadyAt;
            var alert = new QueueStallAlert(queue, s?.Ready ?? 0, oldest, threshold, now);
            if (IsStalled(s, threshold, now))
            {
                if (!_stalledSince.TryAdd(queue, now)) continue;
                LogStalled(logger, queue, now - oldest!.Value, threshold, alert.Ready);
                await events.PublishAsync(StalledSubject, alert, cancellationToken).ConfigureAwait(false);
            }
            else if (_stalledSince.Remove(queue, out var since))
            {
                LogRecovered(logger, queue, now - since);
                await events.PublishAsync(RecoveredSubject, alert with { StalledFor = now - since }, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Whether the oldest ready message of <paramref name="stats"/> has waited longer than <paramref name="threshold"/>.</summary>
    internal static bool IsStalled(QueueStats? stats, TimeSpan threshold, DateTimeOffset now) =>
        stats is { Ready: > 0, OldestReadyAt: { } oldest } && now - oldest > threshold;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} is stalled: its oldest ready message has waited {Age} (threshold {Threshold}), {Ready} ready")]
    private static partial void LogStalled(ILogger logger, string queue, TimeSpan age, TimeSpan threshold, long ready);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Queue} moves again after {StalledFor} stalled")]
    private static partial void LogRecovered(ILogger logger, string queue, TimeSpan stalledFor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stall check failed: {Error}; trying again at the next check")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception, string error);
}
