using System.Diagnostics.Metrics;
using System.Text.Json;
using Celeriac.Transport;
using Celeriac.Worker;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>
/// Observable gauges on the <c>Celeriac</c> meter: queue depth by state, the oldest ready message's age, dead letters,
/// messages held by this process's worker, and live workers. Gauges are read synchronously, so the store is read here in
/// the background, every <see cref="PresenceOptions.Interval"/> and only while a listener (OpenTelemetry, dotnet-counters)
/// has enabled one of the store gauges: a process nobody measures makes no extra round trips.
/// </summary>
internal sealed partial class StoreGauges : BackgroundService
{
    private readonly ITaskTransport _transport;
    private readonly IOperationsStore _operations;
    private readonly TaskWorker _worker;
    private readonly CeleriacRuntime _runtime;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly ILogger<StoreGauges> _logger;
    private readonly Meter _meter = new(CeleriacDiagnostics.Name);
    private readonly ObservableGauge<long> _depth;
    private readonly ObservableGauge<double> _oldest;
    private readonly ObservableGauge<long> _deadLetters;
    private readonly ObservableGauge<long> _liveWorkers;
    private volatile Snapshot? _last;

    private sealed record Snapshot(IReadOnlyList<QueueStats> Queues, int LiveWorkers, DateTimeOffset At);

    public StoreGauges(ITaskTransport transport, IOperationsStore operations, TaskWorker worker, CeleriacRuntime runtime, TimeProvider time, IOptions<PresenceOptions> options, ILogger<StoreGauges> logger)
    {
        (_transport, _operations, _worker, _runtime, _time, _interval, _logger) = (transport, operations, worker, runtime, time, options.Value.Interval, logger);
        _depth = _meter.CreateObservableGauge("celeriac.queue.depth", ObserveDepth, "{message}", "Messages in each queue, by state: ready, delayed, leased.");
        _oldest = _meter.CreateObservableGauge("celeriac.queue.oldest_ready_age", ObserveOldest, "s", "How long the oldest ready message of each queue has waited.");
        _deadLetters = _meter.CreateObservableGauge("celeriac.queue.dead_letters", ObserveDeadLetters, "{message}", "Dead letters of each queue.");
        _liveWorkers = _meter.CreateObservableGauge("celeriac.workers.live", ObserveLiveWorkers, "{process}", "Processes running a worker whose heartbeat has not expired.");
        _meter.CreateObservableGauge("celeriac.worker.in_flight", () => _runtime.RunWorker ? _worker.Held : 0, "{message}", "Messages this process's worker holds (leased: buffered or running).");
    }

    /// <summary>The meter of these gauges (one per service provider, disposed with it).</summary>
    internal Meter Meter => _meter;

    /// <summary>Whether the store has been read for the gauges since the process started.</summary>
    internal bool HasSnapshot => _last is not null;

    /// <summary>Whether any listener reads a gauge that needs the store.</summary>
    private bool Measured => _depth.Enabled || _oldest.Enabled || _deadLetters.Enabled || _liveWorkers.Enabled;

    /// <summary>Reads the store now (the loop's step; tests call it directly).</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var queues = await _transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false);
        var processes = await _operations.GetProcessesAsync(cancellationToken).ConfigureAwait(false);
        _last = new Snapshot(queues, processes.Count(IsWorker), _time.GetUtcNow());
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        var failures = 0;
        do
        {
            if (!Measured) continue;
            try
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Once, then quiet while it keeps failing; the health checks report the store itself.
                if (failures++ == 0) LogRefreshFailed(_logger, e, e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        if (_last is not { } last) yield break;
        foreach (var q in last.Queues)
        {
            var queue = new KeyValuePair<string, object?>("queue", q.Queue);
            yield return new(q.Ready, queue, new("state", "ready"));
            yield return new(q.Delayed, queue, new("state", "delayed"));
            yield return new(q.Leased, queue, new("state", "leased"));
        }
    }

    private IEnumerable<Measurement<double>> ObserveOldest()
    {
        if (_last is not { } last) yield break;
        foreach (var q in last.Queues)
            yield return new(q.OldestReadyAt is { } at ? Math.Max(0, (last.At - at).TotalSeconds) : 0, new KeyValuePair<string, object?>("queue", q.Queue));
    }

    private IEnumerable<Measurement<long>> ObserveDeadLetters()
    {
        if (_last is not { } last) yield break;
        foreach (var q in last.Queues)
            yield return new(q.DeadLetters, new KeyValuePair<string, object?>("queue", q.Queue));
    }

    private IEnumerable<Measurement<long>> ObserveLiveWorkers()
    {
        if (_last is { } last) yield return new(last.LiveWorkers);
    }

    /// <summary>A heartbeat whose roles include <c>worker</c>; unreadable records are not counted.</summary>
    private static bool IsWorker(string record)
    {
        try
        {
            return JsonSerializer.Deserialize(record, OperationsJsonContext.Default.ProcessInfo) is { Roles: { } roles } && roles.Contains("worker");
        }
        catch (JsonException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the store for the queue gauges failed: {Message}")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, string message);
}
