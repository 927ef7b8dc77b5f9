using Celeriac.Transport;
using Microsoft.Extensions.Logging;

namespace Celeriac.Scheduling;

/// <summary>
/// The fire loop of the leader: reload, fire what is due, wait for the next due tick. Firing a tick is two steps, in
/// this order: record it in the store with a compare-and-set (<see cref="IScheduleStore.TryRecordTickAsync"/>), then
/// send its task with the idempotency key <c>beat:{schedule}:{tickUnixMs}</c>. See <c>docs/beat.md</c> for why this
/// order and the key make each tick fire exactly once across a failover.
/// </summary>
internal sealed partial class BeatScheduler
{
    /// <summary>Most overdue ticks of one schedule sent in one pass after a stall; older ones are skipped.</summary>
    private const int MaxCatchUp = 100;

    /// <summary>How long before a tick the wait stops sleeping and spins (system clock only).</summary>
    private static readonly TimeSpan SpinMargin = TimeSpan.FromMilliseconds(3);

    /// <summary>Ticks recorded but not sent (the send failed): sent again until their message would have expired.</summary>
    private readonly List<(ScheduleDefinition Schedule, DateTimeOffset Tick, DateTimeOffset FiredAt)> _unsent = [];

    private sealed class Cursor(ScheduleDefinition schedule, string json, DateTimeOffset updatedAt)
    {
        public ScheduleDefinition Schedule { get; } = schedule;
        public string Json { get; } = json;
        public DateTimeOffset UpdatedAt { get; } = updatedAt;

        /// <summary>The next tick to fire; <see langword="null"/> when the schedule has no more ticks.</summary>
        public DateTimeOffset? Next { get; set; }

        /// <summary>A missed tick to send once now (<see cref="MissedTickPolicy.RunOnce"/>).</summary>
        public DateTimeOffset? Missed { get; set; }

        /// <summary>The last tick recorded by the previous leader, to send again on takeover.</summary>
        public (DateTimeOffset Tick, DateTimeOffset FiredAt)? Resend { get; set; }

        /// <summary>After a store error, the schedule is not tried again before this time.</summary>
        public DateTimeOffset BlockedUntil { get; set; }
    }

    private enum Kind
    {
        OnTime,
        Missed,
        Resend,
    }

    /// <summary>Runs while the lease is good; returns when it could have run out; throws when <paramref name="leadership"/> fires.</summary>
    private async Task FireLoopAsync(IScheduleStore store, DateTimeOffset since, LeaseClock lease, CancellationToken leadership)
    {
        var cursors = new Dictionary<string, Cursor>(StringComparer.Ordinal);
        var firstLoad = true;
        var reload = true;
        var nextReload = since;
        lock (_unsent) _unsent.Clear();
        while (true)
        {
            leadership.ThrowIfCancellationRequested();
            var changed = changes.Next;
            var now = time.GetUtcNow();
            if (reload || now >= nextReload)
            {
                try
                {
                    await ReloadAsync(store, cursors, since, firstLoad, leadership).ConfigureAwait(false);
                    firstLoad = false;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogStoreFailed(e, "read the schedules");
                }
                nextReload = now + _options.ReloadInterval;
            }

            if (!lease.IsValid(time.GetUtcNow())) return;
            await RetryUnsentAsync().ConfigureAwait(false);
            await FireDueAsync(store, cursors, lease, leadership).ConfigureAwait(false);

            var wakeAt = nextReload;
            var precise = false;
            foreach (var c in cursors.Values)
            {
                var at = c.Missed is not null || c.Resend is not null ? c.BlockedUntil : c.Next is { } n ? Max(n, c.BlockedUntil) : DateTimeOffset.MaxValue;
                if (at <= wakeAt)
                {
                    wakeAt = at;
                    precise = true;
                }
            }
            reload = await WaitUntilAsync(wakeAt, precise, changed, leadership).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the schedules; makes a cursor for each new or changed one, and drops paused and removed ones.</summary>
    private async Task ReloadAsync(IScheduleStore store, Dictionary<string, Cursor> cursors, DateTimeOffset since, bool firstLoad, CancellationToken cancellationToken)
    {
        var rows = await store.ListAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var active = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (row.Paused) continue;
            if (cursors.TryGetValue(row.Name, out var cursor) && cursor.Json == row.Definition && cursor.UpdatedAt == row.UpdatedAt)
            {
                active.Add(row.Name);
                // A leader that has not yet noticed it lost the lease may have recorded ticks ahead of this one.
                if (row.LastTick is { } recorded && cursor.Next is { } next && recorded >= next) cursor.Next = cursor.Schedule.Timing.Next(recorded);
                continue;
            }
            if (manager.TryParse(row) is not { } schedule) continue;
            active.Add(row.Name);
            cursor = new Cursor(schedule, row.Definition, row.UpdatedAt);
            var floor = ScheduleManager.Floor(row);
            if (firstLoad && row.LastTick is { } last && row.LastFiredAt is { } firedAt && row.UpdatedAt <= firedAt
                && now - firedAt < _idempotencyWindow / 2 && !(Expiry(schedule, last, firedAt) <= now))
            {
                // The previous leader recorded this tick; whether it also sent it is unknown. The key decides.
                cursor.Resend = (last, firedAt);
            }
            var first = schedule.Timing.Next(floor);
            if (first is { } missedFrom && missedFrom < since)
            {
                // Ticks that came due while no scheduler led (downtime, failover, or before this schedule was stored).
                var latest = schedule.Timing.Latest(floor, since - TimeSpan.FromTicks(1))!.Value;
                if (schedule.MissedTicks == MissedTickPolicy.RunOnce)
                {
                    cursor.Missed = latest;
                    LogMissedRunOnce(schedule.Name, missedFrom, latest);
                }
                else
                {
                    LogMissedSkipped(schedule.Name, missedFrom, latest);
                }
                first = schedule.Timing.Next(latest);
            }
            cursor.Next = first;
            cursors[row.Name] = cursor;
        }
        foreach (var name in cursors.Keys.Where(n => !active.Contains(n)).ToList()) cursors.Remove(name);
    }

    private async Task FireDueAsync(IScheduleStore store, Dictionary<string, Cursor> cursors, LeaseClock lease, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        List<Cursor>? due = null;
        foreach (var c in cursors.Values)
        {
            if (c.BlockedUntil > now) continue;
            if (c.Missed is not null || c.Resend is not null || c.Next <= now) (due ??= []).Add(c);
        }
        if (due is null) return;
        if (due.Count == 1) await FireScheduleAsync(store, due[0], lease, cancellationToken).ConfigureAwait(false);
        else await Task.WhenAll(due.Select(c => FireScheduleAsync(store, c, lease, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>Sends the cursor's pending resend and missed tick, then every tick due by now (at most <see cref="MaxCatchUp"/>).</summary>
    private async Task FireScheduleAsync(IScheduleStore store, Cursor c, LeaseClock lease, CancellationToken cancellationToken)
    {
        var schedule = c.Schedule;
        if (c.Resend is { } resend)
        {
            c.Resend = null;
            await SendAsync(schedule, resend.Tick, resend.FiredAt, Kind.Resend).ConfigureAwait(false);
        }
        if (c.Missed is { } missed)
        {
            if (await RecordAndSendAsync(store, c, missed, Kind.Missed, lease, cancellationToken).ConfigureAwait(false) is not { } done) return;
            c.Missed = null;
            if (done && c.Next is { } n && n <= missed) c.Next = schedule.Timing.Next(missed);
        }
        for (var fired = 0; c.Next is { } tick && tick <= time.GetUtcNow(); fired++)
        {
            if (fired == MaxCatchUp)
            {
                var latest = schedule.Timing.Latest(tick - TimeSpan.FromTicks(1), time.GetUtcNow())!.Value;
                if (latest > tick) LogCatchUpSkipped(schedule.Name, tick, latest);
                c.Next = tick = latest;
            }
            if (await RecordAndSendAsync(store, c, tick, Kind.OnTime, lease, cancellationToken).ConfigureAwait(false) is null) return;
            c.Next = schedule.Timing.Next(tick);
        }
    }

    /// <summary>
    /// Records the tick, then sends it. Returns <see langword="true"/> when this call fired it, <see langword="false"/>
    /// when another scheduler had recorded it (or a later tick), <see langword="null"/> when nothing could be decided
    /// (the lease is in doubt or the store failed); the cursor then waits a little before trying again.
    /// </summary>
    private async Task<bool?> RecordAndSendAsync(IScheduleStore store, Cursor c, DateTimeOffset tick, Kind kind, LeaseClock lease, CancellationToken cancellationToken)
    {
        if (!lease.IsValid(time.GetUtcNow())) return null;
        bool recorded;
        try
        {
            recorded = await store.TryRecordTickAsync(c.Schedule.Name, tick, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStoreFailed(e, $"record tick {tick:O} of schedule {c.Schedule.Name}");
            c.BlockedUntil = time.GetUtcNow() + TimeSpan.FromTicks(Math.Min(_options.ReloadInterval.Ticks, TimeSpan.TicksPerSecond));
            return null;
        }
        if (!recorded)
        {
            LogAlreadyRecorded(c.Schedule.Name, tick);
            return false;
        }
        await SendAsync(c.Schedule, tick, time.GetUtcNow(), kind).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Sends a recorded tick's task; on failure keeps it in <see cref="_unsent"/>. Returns whether the send went through.
    /// Not cancelled when the lead is lost: the tick is recorded, and a late send is safe (the key drops a second one).
    /// </summary>
    private async Task<bool> SendAsync(ScheduleDefinition schedule, DateTimeOffset tick, DateTimeOffset firedAt, Kind kind)
    {
        var key = TickKey(schedule.Name, tick);
        var signature = new TaskSignature(schedule.Task, schedule.Args, schedule.Kwargs, key, schedule.Queue, schedule.Priority);
        signature.Options.IdempotencyKey = key;
        signature.Options.IdempotencyWindow = _idempotencyWindow;
        signature.Options.ExpiresAt = Expiry(schedule, tick, firedAt);
        try
        {
            var handle = await client.SendAsync(signature, CancellationToken.None).ConfigureAwait(false);
            var sentAt = time.GetUtcNow();
            if (handle.WasDuplicate)
            {
                LogDuplicateDropped(schedule.Name, tick);
                return true;
            }
            var error = (sentAt - tick).TotalMilliseconds;
            CeleriacDiagnostics.TickFired(schedule.Name, kind == Kind.OnTime ? error : null);
            LogFired(schedule.Name, tick, schedule.Task, key, error, kind.ToString());
            return true;
        }
        catch (MessageTooLargeException e)
        {
            LogSendRefused(e, schedule.Name, tick);
            return true;
        }
        catch (Exception e)
        {
            LogSendFailed(e, schedule.Name, tick);
            lock (_unsent) _unsent.Add((schedule, tick, firedAt));
            return false;
        }
    }

    private async Task RetryUnsentAsync()
    {
        List<(ScheduleDefinition Schedule, DateTimeOffset Tick, DateTimeOffset FiredAt)> pending;
        lock (_unsent)
        {
            if (_unsent.Count == 0) return;
            pending = [.. _unsent];
            _unsent.Clear();
        }
        foreach (var (schedule, tick, firedAt) in pending)
        {
            if (Expiry(schedule, tick, firedAt) <= time.GetUtcNow()) LogTickLost(schedule.Name, tick);
            else await SendAsync(schedule, tick, firedAt, Kind.Resend).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// When a tick's message expires: <see cref="ScheduleDefinition.Expires"/> after it was fired, else when the next
    /// tick after that moment is due (so a late tick does not expire at once, and ticks never pile up).
    /// </summary>
    internal static DateTimeOffset? Expiry(ScheduleDefinition schedule, DateTimeOffset tick, DateTimeOffset firedAt) =>
        schedule.Expires is { } expires ? firedAt + expires : schedule.Timing.Next(Max(tick, firedAt));

    /// <summary>The idempotency key and task id of a tick.</summary>
    internal static string TickKey(string schedule, DateTimeOffset tick) =>
        $"beat:{schedule}:{tick.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Waits until <paramref name="wakeAt"/>, or less when <paramref name="changed"/> completes first (returns
    /// <see langword="true"/> then). On the system clock, a wait for a tick (<paramref name="precise"/>) sleeps until
    /// <see cref="SpinMargin"/> before it and spins the rest: a timer wakes a thread a millisecond or more late (tens
    /// on a busy machine), a spin does not, at the cost of at most that margin of one core per tick.
    /// </summary>
    private async Task<bool> WaitUntilAsync(DateTimeOffset wakeAt, bool precise, Task changed, CancellationToken cancellationToken)
    {
        if (changed.IsCompleted) return true;
        var spin = precise && ReferenceEquals(time, TimeProvider.System);
        var delay = wakeAt - time.GetUtcNow() - (spin ? SpinMargin : TimeSpan.Zero);
        if (delay > TimeSpan.Zero)
        {
            // Timers count whole milliseconds: round up, so the wait does not end a fraction early and need a second one.
            delay = TimeSpan.FromTicks((delay.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond * TimeSpan.TicksPerMillisecond);
            await changed.WaitAsync(delay, time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
            if (changed.IsCompleted) return true;
        }
        if (spin)
        {
            var wait = new SpinWait();
            while (time.GetUtcNow() < wakeAt && !changed.IsCompleted && !cancellationToken.IsCancellationRequested) wait.SpinOnce(sleep1Threshold: -1);
        }
        return changed.IsCompleted;
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    [LoggerMessage(Level = LogLevel.Debug, Message = "Beat: fired {Schedule} tick {Tick:O}: task {Task} ({TaskId}), {ErrorMs:F1} ms after the tick ({Kind})")]
    private partial void LogFired(string schedule, DateTimeOffset tick, string task, string taskId, double errorMs, string kind);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Beat: {Schedule} tick {Tick:O} was already sent (its idempotency key was taken); dropped")]
    private partial void LogDuplicateDropped(string schedule, DateTimeOffset tick);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Beat: {Schedule} tick {Tick:O} (or a later one) was already recorded by another scheduler; not sent here")]
    private partial void LogAlreadyRecorded(string schedule, DateTimeOffset tick);

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: {Schedule} missed the ticks from {From:O} to {To:O} while no scheduler ran; skipped (missed-tick policy Skip)")]
    private partial void LogMissedSkipped(string schedule, DateTimeOffset from, DateTimeOffset to);

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: {Schedule} missed the ticks from {From:O} to {To:O} while no scheduler ran; sending the last one now (missed-tick policy RunOnce)")]
    private partial void LogMissedRunOnce(string schedule, DateTimeOffset from, DateTimeOffset to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Beat: {Schedule} fell behind; skipped its ticks from {From:O} to before {To:O}")]
    private partial void LogCatchUpSkipped(string schedule, DateTimeOffset from, DateTimeOffset to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Beat: sending {Schedule} tick {Tick:O} failed; trying again until its message would expire")]
    private partial void LogSendFailed(Exception exception, string schedule, DateTimeOffset tick);

    [LoggerMessage(Level = LogLevel.Error, Message = "Beat: {Schedule} tick {Tick:O} was refused by the client and is not sent")]
    private partial void LogSendRefused(Exception exception, string schedule, DateTimeOffset tick);

    [LoggerMessage(Level = LogLevel.Error, Message = "Beat: {Schedule} tick {Tick:O} was recorded but could not be sent before its message would expire; it is lost")]
    private partial void LogTickLost(string schedule, DateTimeOffset tick);
}
