using System.Diagnostics.Metrics;
using Celeriac.Scheduling;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Tests.Scheduling;

/// <summary>The scheduler on a fake clock: firing, missed ticks, leadership, failover and run-time changes.</summary>
public sealed class BeatSchedulerTests
{
    private static readonly TimeSpan Half = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task A_500_ms_schedule_fires_each_tick_once_with_its_key_arguments_and_expiry()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half, new { n = 7 }));
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        for (var i = 1; i <= 6; i++) await h.StepUntilAsync("fast", i, Half);

        Assert.Equal(Enumerable.Range(1, 6).Select(i => BeatHarness.Ms(i * 0.5)), await h.TicksAsync("fast"));
        var tick = BeatHarness.Start.AddSeconds(1);
        var envelope = await h.EnvelopeAsync("fast", tick);
        Assert.Equal("probe.tick", envelope.GetProperty("task").GetString());
        Assert.Equal(7, envelope.GetProperty("kwargs").GetProperty("n").GetInt32());
        Assert.Equal(BeatScheduler.TickKey("fast", tick), envelope.GetProperty("id").GetString());
        // The message expires when the next tick is due, so ticks never pile up behind a stopped worker.
        Assert.Equal(tick + Half, envelope.GetProperty("expires").GetDateTimeOffset());
        var info = (await h.Manager.GetAsync("fast"))!;
        Assert.Equal(BeatHarness.Start.AddSeconds(3), info.LastTick);
        Assert.Equal(ScheduleSource.Code, info.Definition.Source);
    }

    [Fact]
    public async Task A_seconds_cron_fires_on_its_seconds_and_an_explicit_expiry_and_queue_are_used()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("cron2", "probe.tick", "*/2 * * * * *", "Europe/Madrid", configure: o =>
        {
            o.Queue = "beat-queue";
            o.Expires = TimeSpan.FromSeconds(30);
        }));
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        for (var i = 1; i <= 3; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(1));
            await h.StepUntilAsync("cron2", i, TimeSpan.FromSeconds(1));
        }
        Assert.Equal([BeatHarness.Ms(2), BeatHarness.Ms(4), BeatHarness.Ms(6)], await h.TicksAsync("cron2"));
        var envelope = await h.EnvelopeAsync("cron2", BeatHarness.Start.AddSeconds(2));
        Assert.Equal(BeatHarness.Start.AddSeconds(32), envelope.GetProperty("expires").GetDateTimeOffset());
    }

    [Fact]
    public async Task Ticks_missed_while_no_scheduler_ran_are_skipped_by_default()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half));
        var first = h.StartScheduler();
        await Eventually.TrueAsync(() => first.IsLeader);
        await h.StepUntilAsync("fast", 1, Half);
        await h.StepUntilAsync("fast", 2, Half);
        await first.StopAsync();

        h.Time.Advance(TimeSpan.FromSeconds(5));            // downtime: ticks at 1.5 s … 6 s come due with no scheduler
        var second = h.StartScheduler();
        await Eventually.TrueAsync(() => second.IsLeader);
        await h.StepUntilAsync("fast", 3, Half);

        // 6 s was due at the moment the new leader took over, so it is on time; 1.5 s … 5.5 s were skipped.
        Assert.Equal([BeatHarness.Ms(0.5), BeatHarness.Ms(1), BeatHarness.Ms(6), BeatHarness.Ms(6.5)], (await h.StepUntilAsync("fast", 4, TimeSpan.Zero)).Take(4));
    }

    [Fact]
    public async Task With_RunOnce_the_latest_missed_tick_is_sent_once_when_a_scheduler_comes_back()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half, configure: o => o.MissedTicks = MissedTickPolicy.RunOnce));
        var first = h.StartScheduler();
        await Eventually.TrueAsync(() => first.IsLeader);
        await h.StepUntilAsync("fast", 1, Half);
        await first.StopAsync();

        h.Time.Advance(TimeSpan.FromSeconds(5.2));          // now 5.7 s: ticks 1 s … 5.5 s missed
        var second = h.StartScheduler();
        await Eventually.TrueAsync(() => second.IsLeader);
        var ticks = await h.StepUntilAsync("fast", 2, TimeSpan.Zero);
        Assert.Equal([BeatHarness.Ms(0.5), BeatHarness.Ms(5.5)], ticks);
        // The late message expires at the next tick after it was sent, not at once.
        var envelope = await h.EnvelopeAsync("fast", BeatHarness.Start.AddSeconds(5.5));
        Assert.Equal(BeatHarness.Start.AddSeconds(6), envelope.GetProperty("expires").GetDateTimeOffset());

        h.Time.Advance(TimeSpan.FromSeconds(0.3));
        Assert.Equal([BeatHarness.Ms(0.5), BeatHarness.Ms(5.5), BeatHarness.Ms(6)], await h.StepUntilAsync("fast", 3, TimeSpan.Zero));
    }

    [Fact]
    public async Task Two_schedulers_fire_each_tick_once_and_a_follower_takes_over_when_the_leader_stops_renewing()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half), beat: o => o.LeaderLease = TimeSpan.FromSeconds(3));
        var fired = new List<long>();
        using var listener = ListenToTicks(fired);
        var severable = new SeverableLocks(h.Locks);
        var a = h.StartScheduler(severable);
        await Eventually.TrueAsync(() => a.IsLeader);
        var b = h.StartScheduler();
        for (var i = 1; i <= 6; i++) await h.StepUntilAsync("fast", i, Half);
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);

        // The leader is cut off from the lock store: it cannot renew, so it must stop firing before its lease runs
        // out, and the follower takes over once the lease has run out.
        severable.Severed = true;
        var cutAt = h.Time.GetUtcNow();
        await h.AdvanceUntilAsync(() => b.IsLeader, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10));
        var takeover = h.Time.GetUtcNow() - cutAt;
        Assert.False(a.IsLeader);
        Assert.True(takeover <= TimeSpan.FromSeconds(3) + b.Scheduler.FollowerPoll + TimeSpan.FromMilliseconds(100), $"took over after {takeover}");

        var before = (await h.TicksAsync("fast")).Count;
        for (var i = 1; i <= 4; i++) await h.StepUntilAsync("fast", before + i, Half);

        var ticks = await h.TicksAsync("fast");
        Assert.Equal(ticks.Distinct().Count(), ticks.Count);
        Assert.Equal(ticks.Order(), ticks);
        var gaps = ticks.Zip(ticks.Skip(1), (x, y) => y - x).ToList();
        Assert.All(gaps, g => Assert.Equal(0, g % 500));
        Assert.True(gaps.Max() <= 3000 + 300 + 500, $"largest gap {gaps.Max()} ms");
        // Every send that went through is one tick message: nothing was sent twice.
        lock (fired) Assert.Equal(ticks.Count, fired.Count);
    }

    [Fact]
    public async Task A_tick_recorded_by_a_leader_that_died_before_sending_is_sent_by_the_next_leader_and_never_twice()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("slow", "probe.tick", TimeSpan.FromSeconds(10)));
        // A leader synced, recorded the 10 s tick and died before it sent the task.
        await h.Store.SaveAsync("slow", ScheduleDefinition.ForInterval("slow", "probe.tick", TimeSpan.FromSeconds(10)).WithSource(ScheduleSource.Code).ToJson(), ScheduleSaveMode.Upsert);
        h.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await h.Store.TryRecordTickAsync("slow", BeatHarness.Start.AddSeconds(10)));
        h.Time.Advance(TimeSpan.FromSeconds(3));

        var beat = h.StartScheduler();
        Assert.Equal([BeatHarness.Ms(10)], await h.StepUntilAsync("slow", 1, TimeSpan.Zero));

        // And when the old leader had sent it, the re-send is dropped by the idempotency key.
        await beat.StopAsync();
        var next = h.StartScheduler();
        await Eventually.TrueAsync(() => next.IsLeader);
        h.Time.Advance(TimeSpan.FromSeconds(7));
        Assert.Equal([BeatHarness.Ms(10), BeatHarness.Ms(20)], await h.StepUntilAsync("slow", 2, TimeSpan.Zero));
    }

    [Fact]
    public async Task A_tick_whose_send_fails_is_sent_again_until_it_goes_through()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half, configure: o => o.Expires = TimeSpan.FromSeconds(30)));
        var client = new FlakyClient(h.Provider.GetRequiredService<ITaskClient>()) { Failing = true };
        var beat = h.StartScheduler(client: client);
        await Eventually.TrueAsync(() => beat.IsLeader);
        h.Time.Advance(Half);
        await Eventually.TrueAsync(() => Volatile.Read(ref client.Failures) >= 1);
        Assert.Empty(await h.TicksAsync("fast"));
        client.Failing = false;
        // The next pass (the next tick here) sends the recorded tick again, then the new one.
        Assert.Equal([BeatHarness.Ms(0.5), BeatHarness.Ms(1)], await h.StepUntilAsync("fast", 2, Half));
    }

    [Fact]
    public async Task A_second_record_of_the_same_tick_fails()
    {
        await using var h = new BeatHarness();
        await h.Store.SaveAsync("s", "{}", ScheduleSaveMode.Upsert);
        var tick = BeatHarness.Start.AddSeconds(1);
        Assert.True(await h.Store.TryRecordTickAsync("s", tick));
        Assert.False(await h.Store.TryRecordTickAsync("s", tick));
        Assert.False(await h.Store.TryRecordTickAsync("s", tick.AddSeconds(-1)));
        Assert.True(await h.Store.TryRecordTickAsync("s", tick.AddSeconds(1)));
        Assert.False(await h.Store.TryRecordTickAsync("missing", tick));
    }

    [Fact]
    public async Task A_running_scheduler_picks_up_schedules_added_changed_paused_resumed_and_removed_at_run_time()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("clock", "probe.clock", Half));
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);

        await h.Manager.AddAsync(ScheduleDefinition.ForInterval("dyn", "probe.dyn", TimeSpan.FromSeconds(1), new[] { 1 }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Manager.AddAsync(ScheduleDefinition.ForInterval("dyn", "probe.dyn", Half)).AsTask());
        await h.StepUntilAsync("clock", 1, Half);
        await h.StepUntilAsync("clock", 2, Half);
        Assert.Equal([BeatHarness.Ms(1)], await h.TicksAsync("dyn"));

        // Change it to every 500 ms: picked up without a restart.
        Assert.True(await h.Manager.UpdateAsync(ScheduleDefinition.ForInterval("dyn", "probe.dyn", Half, new[] { 2 })));
        await h.StepUntilAsync("clock", 3, Half);
        await h.StepUntilAsync("dyn", 2, TimeSpan.Zero);
        await h.StepUntilAsync("clock", 4, Half);
        Assert.Equal([BeatHarness.Ms(1), BeatHarness.Ms(1.5), BeatHarness.Ms(2)], await h.StepUntilAsync("dyn", 3, TimeSpan.Zero));
        Assert.Equal(2, (await h.EnvelopeAsync("dyn", BeatHarness.Start.AddSeconds(2))).GetProperty("args")[0].GetInt32());

        // Paused: no ticks (the clock schedule shows time went on), and none fired for the pause on resume.
        Assert.True(await h.Manager.PauseAsync("dyn"));
        Assert.True((await h.Manager.GetAsync("dyn"))!.Paused);
        Assert.Null((await h.Manager.GetAsync("dyn"))!.NextTick);
        for (var i = 5; i <= 8; i++) await h.StepUntilAsync("clock", i, Half);
        Assert.Equal(3, (await h.TicksAsync("dyn")).Count);
        Assert.True(await h.Manager.ResumeAsync("dyn"));
        await h.StepUntilAsync("clock", 9, Half);
        Assert.Equal([BeatHarness.Ms(1), BeatHarness.Ms(1.5), BeatHarness.Ms(2), BeatHarness.Ms(4.5)], await h.StepUntilAsync("dyn", 4, TimeSpan.Zero));

        // Removed: no more ticks.
        Assert.True(await h.Manager.RemoveAsync("dyn"));
        Assert.False(await h.Manager.RemoveAsync("dyn"));
        for (var i = 10; i <= 12; i++) await h.StepUntilAsync("clock", i, Half);
        Assert.Equal(4, (await h.TicksAsync("dyn")).Count);
    }

    [Fact]
    public async Task A_scheduler_in_another_process_sees_changes_at_its_next_reload()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("clock", "probe.clock", Half));
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        // Written straight to the store, as another process would: no in-process change signal.
        await h.Store.SaveAsync("other", ScheduleDefinition.ForInterval("other", "probe.other", Half).ToJson(), ScheduleSaveMode.AddOnly);
        for (var i = 1; i <= 4; i++) await h.StepUntilAsync("clock", i, Half);
        var ticks = await h.TicksAsync("other");
        Assert.NotEmpty(ticks);
        Assert.True(ticks[0] <= BeatHarness.Ms(1.5), $"first tick of the new schedule at {ticks[0] - BeatHarness.Ms(0)} ms");
    }

    [Fact]
    public async Task Code_schedules_are_written_at_start_cannot_be_removed_at_run_time_and_stale_ones_are_dropped()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("code", "probe.tick", TimeSpan.FromMinutes(5)));
        // Before any scheduler ran, the code schedule is listed from the app itself.
        var listed = Assert.Single(await h.Manager.ListAsync());
        Assert.Null(listed.UpdatedAt);
        Assert.Equal(BeatHarness.Start.AddMinutes(5), listed.NextTick);

        await h.Store.SaveAsync("old-code", ScheduleDefinition.ForInterval("old-code", "probe.tick", Half).WithSource(ScheduleSource.Code).ToJson(), ScheduleSaveMode.Upsert);
        await h.Store.SaveAsync("dyn", ScheduleDefinition.ForInterval("dyn", "probe.tick", Half).ToJson(), ScheduleSaveMode.Upsert);
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        var names = (await h.Store.ListAsync()).Select(r => r.Name).ToList();
        Assert.Equal(["code", "dyn"], names);

        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Manager.RemoveAsync("code").AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Manager.UpdateAsync(ScheduleDefinition.ForInterval("code", "x", Half)).AsTask());
        Assert.True(await h.Manager.PauseAsync("code"));
        Assert.False(await h.Manager.PauseAsync("nope"));

        // Saving an unchanged code schedule again is not a change (it must not reset the missed-tick window).
        var before = (await h.Store.ListAsync()).Single(r => r.Name == "code").UpdatedAt;
        h.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await h.Store.SaveAsync("code", ScheduleDefinition.ForInterval("code", "probe.tick", TimeSpan.FromMinutes(5)).WithSource(ScheduleSource.Code).ToJson(), ScheduleSaveMode.Upsert));
        Assert.Equal(before, (await h.Store.ListAsync()).Single(r => r.Name == "code").UpdatedAt);
    }

    [Fact]
    public async Task A_stopped_leader_hands_over_at_once()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("fast", "probe.tick", Half));
        var a = h.StartScheduler();
        await Eventually.TrueAsync(() => a.IsLeader);
        var b = h.StartScheduler();
        await a.StopAsync();
        await h.AdvanceUntilAsync(() => b.IsLeader, TimeSpan.FromMilliseconds(50), b.Scheduler.FollowerPoll + TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Fired_ticks_are_counted_and_their_error_is_measured()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("metered", "probe.tick", Half));
        var errors = new List<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Celeriac" && instrument.Name == "celeriac.beat.tick_error") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "schedule" && (string?)tag.Value == "metered") lock (errors) errors.Add(value);
        });
        listener.Start();
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        for (var i = 1; i <= 3; i++) await h.StepUntilAsync("metered", i, Half);
        await Eventually.TrueAsync(() => { lock (errors) return errors.Count == 3; });
        lock (errors) Assert.All(errors, e => Assert.Equal(0, e));   // the fake clock does not move while firing
    }

    private static MeterListener ListenToTicks(List<long> fired)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Celeriac" && instrument.Name == "celeriac.beat.ticks") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "schedule" && (string?)tag.Value == "fast") lock (fired) fired.Add(value);
        });
        listener.Start();
        return listener;
    }
}
