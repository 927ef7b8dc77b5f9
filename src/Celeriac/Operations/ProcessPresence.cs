using System.Text.Json;
using Celeriac.Transport;
using Celeriac.Worker;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>
/// Writes this process's heartbeat (<see cref="ProcessInfo"/>) to the operations store.
/// <para>
/// Lifecycle: on start it writes one at once, then one every <see cref="PresenceOptions.Interval"/>, and one more
/// whenever something an operator sees changes (a worker or beat loop starts or stops, the concurrency changes, the
/// worker begins to drain). Each lives for three intervals, so a process killed without warning disappears on its
/// own after three missed beats. On a graceful stop it deletes its heartbeat (a goodbye). A store that fails costs a
/// warning (the first, then one a minute with the count) and never stops the process.
/// </para>
/// </summary>
internal sealed partial class ProcessPresence(
    IOperationsStore store,
    LocalProcess process,
    TaskWorker worker,
    Scheduling.BeatScheduler beat,
    IEnumerable<IPresenceContributor> contributors,
    IOptions<PresenceOptions> options,
    TimeProvider time,
    ILogger<ProcessPresence> logger) : BackgroundService
{
    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);
    private readonly TimeSpan _interval = options.Value.Interval;
    private readonly IPresenceContributor[] _contributors = [.. contributors];
    private DateTimeOffset _lastLogged = DateTimeOffset.MinValue;
    private int _failuresSinceLog;
    private bool _failing;

    /// <summary>The heartbeat as it would be written now.</summary>
    public ProcessInfo Snapshot()
    {
        var roles = process.Roles.ToList();
        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var contributor in _contributors)
        {
            if (contributor.Role is { } role && !roles.Contains(role, StringComparer.Ordinal)) roles.Add(role);
            foreach (var (group, count) in contributor.LocalGroupCounts())
                groups[group] = groups.GetValueOrDefault(group) + count;
        }
        var running = worker.IsRunning;
        var status = worker.IsStopping && running ? "stopping"
            : running && worker.Status.Stuck ? "fetch stuck"
            : running && worker.Status.ConsecutiveFailures >= TaskWorker.FailuresBeforeError ? "fetch failing"
            : "running";
        return new ProcessInfo(process.Id, process.Host, process.Pid, process.Version, [.. roles.Order(StringComparer.Ordinal)],
            worker.Queues, worker.Concurrency, process.StartedAt, time.GetUtcNow(), worker.InFlight(),
            worker.Processed, worker.Failed, worker.Retried, groups, status, beat.IsLeader);
    }

    /// <summary>Writes one heartbeat; a failure is logged (rate-limited), never thrown.</summary>
    public async Task BeatAsync(CancellationToken cancellationToken)
    {
        try
        {
            var record = JsonSerializer.Serialize(Snapshot(), OperationsJsonContext.Default.ProcessInfo);
            await store.PutProcessAsync(process.Id, record, _interval * 3, cancellationToken).ConfigureAwait(false);
            if (_failing)
            {
                _failing = false;
                LogRecovered();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _failing = true;
            _failuresSinceLog++;
            var now = time.GetUtcNow();
            if (now - _lastLogged >= LogEvery)
            {
                LogBeatFailed(_failuresSinceLog, e.GetType().Name, e.Message);
                _lastLogged = now;
                _failuresSinceLog = 0;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await BeatAsync(stoppingToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(_interval, time);
        Task<bool>? tick = null;
        Task<bool>? poke = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                tick ??= timer.WaitForNextTickAsync(stoppingToken).AsTask();
                poke ??= process.Pokes.WaitToReadAsync(stoppingToken).AsTask();
                var done = await Task.WhenAny(tick, poke).ConfigureAwait(false);
                if (done == tick)
                {
                    if (!await tick.ConfigureAwait(false)) return;
                    tick = null;
                }
                else
                {
                    if (!await poke.ConfigureAwait(false)) return;
                    while (process.Pokes.TryRead(out _))
                    {
                    }
                    poke = null;
                }
                await BeatAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.RemoveProcessAsync(process.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogGoodbyeFailed(e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The heartbeat could not be written ({Failures} failure(s) since the last report; {ErrorType}: {Error}); this process may be missing from the live list until it works again")]
    private partial void LogBeatFailed(int failures, string errorType, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "The heartbeat is written again")]
    private partial void LogRecovered();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The heartbeat could not be removed on stop ({Error}); it expires on its own after three intervals")]
    private partial void LogGoodbyeFailed(string error);
}
