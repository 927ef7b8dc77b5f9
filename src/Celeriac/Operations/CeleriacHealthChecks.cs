using Celeriac.Transport;
using Celeriac.Scheduling;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>Celeriac's health checks for <c>services.AddHealthChecks()</c>.</summary>
public static class CeleriacHealthCheckExtensions
{
    /// <summary>Tag of the checks that say whether this process can do its work (map them at <c>/health/ready</c>).</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Adds four checks, all tagged <see cref="ReadyTag"/>:
    /// <list type="bullet">
    /// <item><c>celeriac.store</c>: one queue-stats read of the store answers within <paramref name="storeTimeout"/> (default 5 s); unhealthy otherwise.</item>
    /// <item><c>celeriac.worker</c>: in a process that runs a worker, its fetch loop is not stuck (the watchdog,
    /// <see cref="WorkerOptions.WatchdogTimeout"/>) and its receives are not failing (five in a row); degraded while a
    /// queue is set aside because its storage is damaged.</item>
    /// <item><c>celeriac.queues</c>: degraded while a queue watched with <c>AlertWhenStalled</c> is stalled.</item>
    /// <item><c>celeriac.beat</c>: degraded when there are active schedules but no live process is the beat leader
    /// (no heartbeat says so), or a schedule's tick is overdue by more than twice the leader lease (the leader does not fire).</item>
    /// </list>
    /// </summary>
    public static IHealthChecksBuilder AddCeleriac(this IHealthChecksBuilder builder, TimeSpan? storeTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var timeout = storeTimeout ?? TimeSpan.FromSeconds(5);
        builder.Add(new HealthCheckRegistration("celeriac.store", sp => ActivatorUtilities.CreateInstance<StoreHealthCheck>(sp, timeout), HealthStatus.Unhealthy, [ReadyTag]));
        builder.Add(new HealthCheckRegistration("celeriac.worker", sp => ActivatorUtilities.CreateInstance<WorkerHealthCheck>(sp), HealthStatus.Unhealthy, [ReadyTag]));
        builder.Add(new HealthCheckRegistration("celeriac.queues", sp => ActivatorUtilities.CreateInstance<QueuesHealthCheck>(sp), HealthStatus.Degraded, [ReadyTag]));
        builder.Add(new HealthCheckRegistration("celeriac.beat", sp => ActivatorUtilities.CreateInstance<BeatHealthCheck>(sp), HealthStatus.Degraded, [ReadyTag]));
        return builder;
    }
}

/// <summary>The store answers a queue-stats read in time.</summary>
internal sealed class StoreHealthCheck(ITaskTransport transport, TimeProvider time, TimeSpan timeout) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var stats = await transport.GetQueueStatsAsync(bound.Token).AsTask().WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"The store answers ({stats.Count} queues).", new Dictionary<string, object> { ["queues"] = stats.Count });
        }
        catch (TimeoutException)
        {
            await bound.CancelAsync().ConfigureAwait(false);
            return new HealthCheckResult(context.Registration.FailureStatus, $"The store did not answer within {timeout}.");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"The store cannot be read: {e.Message}", e);
        }
    }
}

/// <summary>This process's worker fetches.</summary>
internal sealed class WorkerHealthCheck(CeleriacRuntime runtime, TaskWorker worker) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!runtime.RunWorker) return Task.FromResult(HealthCheckResult.Healthy("This process runs no worker."));
        var status = worker.Status;
        var data = new Dictionary<string, object>
        {
            ["lastRoundTrip"] = status.LastRoundTrip?.ToString("O") ?? "none yet",
            ["consecutiveFailures"] = status.ConsecutiveFailures,
            ["held"] = worker.Held,
        };
        if (status.Stuck)
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, $"The fetch loop is stuck: {status.LastError}", data: data));
        if (status.ConsecutiveFailures >= TaskWorker.FailuresBeforeError)
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, $"{status.ConsecutiveFailures} receives failed in a row: {status.LastError}", data: data));
        if (status.SetAsideQueues is { Count: > 0 } aside)
            return Task.FromResult(HealthCheckResult.Degraded("Set aside (damaged storage): " + string.Join("; ", aside.Select(p => $"{p.Key}: {p.Value}")), data: data));
        return Task.FromResult(HealthCheckResult.Healthy("The worker fetches.", data));
    }
}

/// <summary>No queue watched with <c>AlertWhenStalled</c> is stalled.</summary>
internal sealed class QueuesHealthCheck(ITaskTransport transport, IOptions<StallAlertOptions> options, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var watched = options.Value.StalledAfter;
        if (watched.Count == 0) return HealthCheckResult.Healthy("No queue is watched for stalls.");
        var stats = (await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(s => s.Queue, StringComparer.Ordinal);
        var now = time.GetUtcNow();
        var stalled = watched.Where(w => StallMonitor.IsStalled(stats.GetValueOrDefault(w.Key), w.Value, now)).Select(w => w.Key).Order(StringComparer.Ordinal).ToArray();
        return stalled.Length == 0
            ? HealthCheckResult.Healthy($"{watched.Count} watched queue(s) move.")
            : new HealthCheckResult(context.Registration.FailureStatus, "Stalled: " + string.Join(", ", stalled), data: new Dictionary<string, object> { ["stalled"] = stalled });
    }
}

/// <summary>A beat leader fires the schedules, when there are any to fire.</summary>
internal sealed class BeatHealthCheck(IScheduleManager schedules, IOperationsStore operations, BeatScheduler scheduler, IOptions<BeatOptions> beat, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var active = (await schedules.ListAsync(cancellationToken).ConfigureAwait(false)).Where(s => !s.Paused).ToArray();
        if (active.Length == 0) return HealthCheckResult.Healthy("No active schedule: no beat leader is needed.");

        // This process's own scheduler knows at once; other leaders say so in their heartbeats.
        var leaders = scheduler.IsLeader ? new List<string> { "this process" } : [];
        foreach (var record in await operations.GetProcessesAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (System.Text.Json.JsonSerializer.Deserialize(record, OperationsJsonContext.Default.ProcessInfo) is { BeatLeader: true } p && !leaders.Contains(p.Id)) leaders.Add(p.Id);
            }
            catch (System.Text.Json.JsonException)
            {
                // A damaged heartbeat says nothing.
            }
        }
        var data = new Dictionary<string, object> { ["schedules"] = active.Length, ["leaders"] = leaders.ToArray() };
        if (leaders.Count == 0)
            return new HealthCheckResult(context.Registration.FailureStatus, $"{active.Length} active schedule(s) but no live process is the beat leader: run `beat` (or `all`) somewhere.", data: data);

        var grace = beat.Value.LeaderLease * 2;
        var now = time.GetUtcNow();
        // The tick after the last one fired should have been fired by now (NextTick itself is never in the past).
        var overdue = active.Where(s => s.LastTick is { } last && s.Definition.GetNextTick(last) is { } due && now - due > grace).Select(s => s.Name).Order(StringComparer.Ordinal).ToArray();
        if (overdue.Length > 0)
        {
            data["overdue"] = overdue;
            return new HealthCheckResult(context.Registration.FailureStatus, $"The beat leader {leaders[0]} is not firing: overdue by more than {grace}: {string.Join(", ", overdue)}.", data: data);
        }
        return HealthCheckResult.Healthy($"Beat leader {leaders[0]} fires {active.Length} schedule(s).", data);
    }
}
