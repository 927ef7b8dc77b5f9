using System.Text.Json;
using Celeriac.AspNetCore.Channels;
using Celeriac.Operations;
using Celeriac.Scheduling;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>
/// The one sampler of this process. Once a second it looks at <see cref="ChannelsNode.LocalMemberCount"/> of
/// <see cref="Group"/>: while no dashboard of this process is open it does nothing else (no store reads). While one
/// is, it reads the store once (queue stats, and the presence list when <see cref="IWorkerControl"/> is registered),
/// adds this process's rates and run times (<see cref="DashboardHistory"/>), and sends one
/// <see cref="SnapshotType"/> message to the group, however many browsers are open. Each message names the node that
/// took it; a dashboard connection forwards only its own node's snapshots, so browsers of another web process sharing
/// the layer are not sent double.
/// </summary>
internal sealed partial class DashboardSampler(
    IServiceProvider services,
    ChannelsNode node,
    IChannelLayer layer,
    ITaskTransport transport,
    DashboardHistory history,
    IOptions<CeleriacOptions> celeriac,
    TimeProvider time,
    ILogger<DashboardSampler> logger) : BackgroundService
{
    public const string Group = "celeriac.dashboard";
    public const string SnapshotType = "dashboard.snapshot";
    private const int MaxProcesses = 200;
    private const int MaxQueues = 500;

    private readonly SemaphoreSlim _sampling = new(1, 1);
    private DashboardSnapshot? _last;
    private Dictionary<string, (long Depth, long Done)> _previous = new(StringComparer.Ordinal);
    private DateTimeOffset _previousAt;
    private long _sent;

    /// <summary>Snapshots sent to the group so far (tests).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public string Node => node.Id;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (node.LocalMemberCount(Group) == 0) continue;
                try
                {
                    var snapshot = await SampleAsync(stoppingToken).ConfigureAwait(false);
                    await SendAsync(snapshot, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogSampleFailed(e, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(DashboardSnapshot snapshot, CancellationToken cancellationToken)
    {
        try
        {
            await layer.GroupSendAsync(Group, JsonSerializer.SerializeToElement(snapshot, DashboardJson.Default.DashboardSnapshot), cancellationToken).ConfigureAwait(false);
        }
        catch (MessageTooLargeException)
        {
            // Many processes with many running tasks: send the numbers without the list (the Workers page reads it over HTTP).
            var smaller = snapshot with { Processes = null, Errors = [.. snapshot.Errors, "The process list is too large for a live message; open the Workers page to read it."] };
            await layer.GroupSendAsync(Group, JsonSerializer.SerializeToElement(smaller, DashboardJson.Default.DashboardSnapshot), cancellationToken).ConfigureAwait(false);
        }
        Interlocked.Increment(ref _sent);
    }

    /// <summary>The latest snapshot when it is under two seconds old (a page that just opened), else a new one.</summary>
    public async Task<DashboardSnapshot> CurrentAsync(CancellationToken cancellationToken)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && time.GetUtcNow() - last.At < TimeSpan.FromSeconds(2)) return last;
        return await SampleAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the store once and builds a snapshot. One at a time.</summary>
    public async Task<DashboardSnapshot> SampleAsync(CancellationToken cancellationToken)
    {
        await _sampling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var errors = new List<string>();
            IReadOnlyList<QueueStats> stats = [];
            try
            {
                stats = await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors.Add($"Queue stats could not be read: {e.Message}");
            }

            IReadOnlyList<ProcessInfo>? processes = null;
            if (services.GetService<IWorkerControl>() is { } control)
            {
                try
                {
                    processes = [.. (await control.GetProcessesAsync(cancellationToken).ConfigureAwait(false)).Take(MaxProcesses)];
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    errors.Add($"The presence list could not be read: {e.Message}");
                }
            }

            var now = time.GetUtcNow();
            var queues = QueueRows(stats.Take(MaxQueues), now);
            var (p50, p95, samples) = history.Percentiles();
            var snapshot = new DashboardSnapshot(
                SnapshotType, node.Id, now,
                history.Read(now.ToUnixTimeSeconds() - 10),
                p50, p95, samples,
                queues,
                stats.Sum(s => s.DeadLetters),
                processes,
                Beat(processes),
                node.LocalGroupCounts(),
                errors);
            Volatile.Write(ref _last, snapshot);
            return snapshot;
        }
        finally
        {
            _sampling.Release();
        }
    }

    /// <summary>
    /// Depths as read, and rates estimated between two samples: out is what this process's worker settled from the
    /// queue (by the tasks' queues), in is out plus the change of the queue's depth (never below zero).
    /// </summary>
    private List<QueueRow> QueueRows(IEnumerable<QueueStats> stats, DateTimeOffset now)
    {
        var registry = services.GetService<TaskRegistry>();
        var doneByQueue = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (task, done) in history.DoneByTask())
        {
            var queue = registry?.Find(task)?.Queue ?? celeriac.Value.DefaultQueue;
            doneByQueue[queue] = doneByQueue.GetValueOrDefault(queue) + done;
        }
        var elapsed = (now - _previousAt).TotalSeconds;
        var rows = new List<QueueRow>();
        var current = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var s in stats.OrderBy(s => s.Queue, StringComparer.Ordinal))
        {
            var depth = s.Ready + s.Delayed + s.Leased;
            var done = doneByQueue.GetValueOrDefault(s.Queue);
            current[s.Queue] = (depth, done);
            double? rateIn = null, rateOut = null;
            if (elapsed is > 0.2 and < 30 && _previous.TryGetValue(s.Queue, out var before))
            {
                var settled = Math.Max(0, done - before.Done);
                rateOut = Math.Round(settled / elapsed, 2);
                rateIn = Math.Round(Math.Max(0, depth - before.Depth + settled) / elapsed, 2);
            }
            var age = s.OldestReadyAt is { } oldest ? Math.Max(0, (now - oldest).TotalSeconds) : (double?)null;
            rows.Add(new QueueRow(s.Queue, s.Ready, s.Delayed, s.Leased, s.DeadLetters, age is { } a ? Math.Round(a, 1) : null, rateIn, rateOut));
        }
        _previous = current;
        _previousAt = now;
        return rows;
    }

    /// <summary>Who leads the beat: this process (it knows), else how many live processes run a scheduler.</summary>
    public BeatInfo Beat(IReadOnlyList<ProcessInfo>? processes)
    {
        var runtime = services.GetService<CeleriacRuntime>();
        var runsHere = runtime?.RunBeat == true && services.GetService<BeatScheduler>() is not null;
        var leads = runsHere && services.GetService<BeatScheduler>()!.IsLeader;
        var beats = processes?.Where(p => p.Roles.Contains("beat", StringComparer.Ordinal)).Select(p => p.Id).ToArray();
        return new BeatInfo(leads, runsHere, leads ? node.Id : null, beats);
    }

    public override void Dispose()
    {
        _sampling.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The dashboard sampler failed: {Error}; trying again in a second")]
    private partial void LogSampleFailed(Exception exception, string error);
}

/// <summary>A connection of the dashboard page: in <see cref="DashboardSampler.Group"/>, forwarding its own node's snapshots.</summary>
internal sealed class DashboardConsumer(ChannelsNode node) : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync().ConfigureAwait(false);
        await AddToGroupAsync(DashboardSampler.Group).ConfigureAwait(false);
    }

    [GroupHandler(DashboardSampler.SnapshotType)]
    internal ValueTask OnSnapshot(GroupMessage message) =>
        message.Message.TryGetProperty("node", out var from) && from.ValueKind == JsonValueKind.String && from.GetString() == node.Id
            ? ForwardAsync(message)
            : ValueTask.CompletedTask;
}
