using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Scheduling;

/// <summary>
/// Beat: sends the task of each periodic schedule once per tick, across any number of replicas sharing a store.
/// <para>
/// Lifecycle: <see cref="RunAsync"/> first writes this app's code schedules to the schedule store (retrying while the
/// store is unreachable). Then it competes for the leader key <c>beat:leader</c> through <see cref="ILockProvider"/>:
/// a follower asks again every tenth of <see cref="BeatOptions.LeaderLease"/> (at most every second) and does
/// nothing else. The leader renews its lease every third of it and, while the lease is good, runs the fire loop: it
/// reads the schedules from the store (every <see cref="BeatOptions.ReloadInterval"/>, and at once when this process
/// changes one), waits on the <see cref="TimeProvider"/> until the earliest due tick, and fires it by recording the
/// tick in the store with a compare-and-set and then sending the task with the idempotency key
/// <c>beat:{schedule}:{tickUnixMs}</c> (also the task id). On taking over, the leader sends each schedule's last
/// recorded tick again (the key drops it when the old leader had sent it) and applies each schedule's missed-tick
/// policy to the ticks that came due while nobody led. When a renewal fails, or the lease could have run out
/// unrenewed, the leader stops firing at once and goes back to following. When the stopping token fires it releases
/// the key, so another replica takes over within one follower poll instead of a whole lease.
/// </para>
/// </summary>
internal sealed partial class BeatScheduler(
    ScheduleManager manager,
    ILockProvider locks,
    ITaskClient client,
    ScheduleChanges changes,
    IOptions<BeatOptions> options,
    IOptions<CeleriacOptions> celeriac,
    TimeProvider time,
    Celeriac.Operations.LocalProcess process,
    ILogger<BeatScheduler> logger)
{
    /// <summary>The lock key the replicas compete for.</summary>
    public const string LeaderKey = "beat:leader";

    private readonly BeatOptions _options = options.Value;
    private readonly TimeSpan _idempotencyWindow = celeriac.Value.IdempotencyWindow;
    private volatile bool _isLeader;

    /// <summary>Whether this scheduler leads (fires) right now.</summary>
    public bool IsLeader => _isLeader;

    /// <summary>How long a follower waits between attempts to take the leader key.</summary>
    public TimeSpan FollowerPoll => TimeSpan.FromTicks(Math.Clamp(_options.LeaderLease.Ticks / 10, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));

    /// <summary>Runs until <paramref name="stoppingToken"/> fires, as described above.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using var role = process.Enter("beat");
        var store = manager.Store;
        var lease = _options.LeaderLease;
        try
        {
            await SyncAsync(stoppingToken).ConfigureAwait(false);
            LogStarted(lease, _options.ReloadInterval);
            while (!stoppingToken.IsCancellationRequested)
            {
                var asked = time.GetUtcNow();
                string? token = null;
                try
                {
                    token = await locks.TryAcquireAsync(LeaderKey, lease, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogStoreFailed(e, "take the leader key");
                }
                if (token is not null) await LeadAsync(store, token, new LeaseClock(asked + lease), stoppingToken).ConfigureAwait(false);
                else await Task.Delay(FollowerPoll, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        LogStopped();
    }

    /// <summary>Leads until the lease is lost or the scheduler stops, then releases the key.</summary>
    private async Task LeadAsync(IScheduleStore store, string token, LeaseClock lease, CancellationToken stoppingToken)
    {
        var since = time.GetUtcNow();
        _isLeader = true;
        LogBecameLeader(_options.LeaderLease);
        using var leadership = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var renewer = RenewLoopAsync(token, lease, leadership);
        var why = "stopping";
        try
        {
            await FireLoopAsync(store, since, lease, leadership.Token).ConfigureAwait(false);
            why = "the lease could have run out unrenewed";
        }
        catch (OperationCanceledException) when (leadership.IsCancellationRequested)
        {
            if (!stoppingToken.IsCancellationRequested) why = "the lease was lost";
        }
        catch (Exception e)
        {
            why = "an unexpected error";
            LogLeaderFailed(e);
        }
        finally
        {
            _isLeader = false;
            await leadership.CancelAsync().ConfigureAwait(false);
            await renewer.ConfigureAwait(false);
        }
        try
        {
            // Only frees the key while this token still holds it; lets a follower take over at its next poll.
            await locks.ReleaseAsync(LeaderKey, token, CancellationToken.None).AsTask()
                .WaitAsync(TimeSpan.FromSeconds(2), time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogStoreFailed(e, "release the leader key");
        }
        LogLeadershipEnded(why);
        if (!stoppingToken.IsCancellationRequested) await Task.Delay(FollowerPoll, time, stoppingToken).ConfigureAwait(false);
    }

    /// <summary>Renews the lease every third of it; cancels <paramref name="leadership"/> when it is lost or could have run out.</summary>
    private async Task RenewLoopAsync(string token, LeaseClock lease, CancellationTokenSource leadership)
    {
        var duration = _options.LeaderLease;
        var every = duration / 3;
        try
        {
            while (true)
            {
                await Task.Delay(every, time, leadership.Token).ConfigureAwait(false);
                var asked = time.GetUtcNow();
                bool? renewed = null;
                try
                {
                    renewed = await locks.RenewAsync(LeaderKey, token, duration, leadership.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogStoreFailed(e, "renew the leader key");
                }
                if (renewed == true)
                {
                    lease.ValidUntil = asked + duration;
                }
                else if (renewed == false || !lease.IsValid(time.GetUtcNow()))
                {
                    await leadership.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SyncAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                await manager.SyncCodeSchedulesAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogStoreFailed(e, "write the code schedules");
                await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.TicksPerSecond * 30));
            }
        }
    }

    /// <summary>Until when the lease is surely held: the start of the last successful take or renewal plus the lease.</summary>
    private sealed class LeaseClock(DateTimeOffset validUntil)
    {
        private long _validUntilUtcTicks = validUntil.UtcTicks;

        public DateTimeOffset ValidUntil
        {
            get => new(Interlocked.Read(ref _validUntilUtcTicks), TimeSpan.Zero);
            set => Interlocked.Exchange(ref _validUntilUtcTicks, value.UtcTicks);
        }

        public bool IsValid(DateTimeOffset now) => now < ValidUntil;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat started: leader lease {Lease}, reload every {Reload}")]
    private partial void LogStarted(TimeSpan lease, TimeSpan reload);

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat stopped")]
    private partial void LogStopped();

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: this process leads (lease {Lease}) and fires the schedules")]
    private partial void LogBecameLeader(TimeSpan lease);

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: this process no longer leads: {Why}")]
    private partial void LogLeadershipEnded(string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "Beat: the leader failed; giving up the lead")]
    private partial void LogLeaderFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Beat: could not {What}; trying again")]
    private partial void LogStoreFailed(Exception exception, string what);
}
