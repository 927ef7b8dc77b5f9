using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Tests;

/// <summary>The counters, histograms and gauges of the <c>Celeriac</c> meter are really emitted, with their tags.</summary>
public sealed class MetricsTests
{
    private sealed record Recorded(string Instrument, double Value, Dictionary<string, object?> Tags);

    /// <summary>Listens to the instruments of meter <c>Celeriac</c> that <paramref name="include"/> accepts.</summary>
    private static MeterListener Listen(ConcurrentQueue<Recorded> into, Func<Instrument, bool> include)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == CeleriacDiagnostics.Name && include(instrument)) l.EnableMeasurementEvents(instrument);
            },
        };
        void Add<T>(Instrument i, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags) where T : struct =>
            into.Enqueue(new Recorded(i.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), new Dictionary<string, object?>(tags.ToArray())));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Add(i, v, t));
        listener.Start();
        return listener;
    }

    [Fact]
    public async Task Settled_tasks_their_run_time_and_published_events_are_counted_with_their_tags()
    {
        var seen = new ConcurrentQueue<Recorded>();
        using var listener = Listen(seen, _ => true);
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("metrics.ok", (int n) => n);
            c.MapTask("metrics.bad", (Action)(() => throw new InvalidOperationException("no")));
        });
        h.Start();
        var ok = await h.Client.SendAsync("metrics.ok", new { n = 1 });
        var bad = await h.Client.SendAsync("metrics.bad");
        await h.WaitForStateAsync(ok.Id, TaskStates.Success);
        await h.WaitForStateAsync(bad.Id, TaskStates.Failure);
        await h.Events.PublishAsync("metrics.happened");

        bool Task(Recorded r, string name) => (string?)r.Tags.GetValueOrDefault("task") == name;
        await Eventually.TrueAsync(() => seen.Any(r => r.Instrument == "celeriac.tasks" && Task(r, "metrics.bad")));
        Assert.Contains(seen, r => r.Instrument == "celeriac.tasks" && Task(r, "metrics.ok") && (string?)r.Tags["state"] == TaskStates.Success && r.Value == 1);
        Assert.Contains(seen, r => r.Instrument == "celeriac.tasks" && Task(r, "metrics.bad") && (string?)r.Tags["state"] == TaskStates.Failure && r.Value == 1);
        Assert.Contains(seen, r => r.Instrument == "celeriac.task.duration" && Task(r, "metrics.ok") && r.Value >= 0);
        Assert.Contains(seen, r => r.Instrument == "celeriac.task.duration" && Task(r, "metrics.bad"));
        Assert.Contains(seen, r => r.Instrument == "celeriac.events.published" && (string?)r.Tags["subject"] == "metrics.happened" && r.Value == 1);
    }

    [Fact]
    public async Task A_fired_tick_is_counted_with_its_schedule_and_its_lateness()
    {
        var seen = new ConcurrentQueue<Recorded>();
        using var listener = Listen(seen, i => i.Name.StartsWith("celeriac.beat.", StringComparison.Ordinal));
        await using var h = new Scheduling.BeatHarness(c => c.MapSchedule("metrics.every", "probe.tick", TimeSpan.FromSeconds(1)));
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        await h.StepUntilAsync("metrics.every", 1, TimeSpan.FromSeconds(1));

        await Eventually.TrueAsync(() => seen.Any(r => r.Instrument == "celeriac.beat.ticks" && (string?)r.Tags["schedule"] == "metrics.every"));
        Assert.Contains(seen, r => r.Instrument == "celeriac.beat.tick_error" && (string?)r.Tags["schedule"] == "metrics.every" && r.Value >= 0);
    }

    [Fact]
    public async Task The_gauges_report_queue_depth_by_state_the_oldest_ready_age_dead_letters_and_live_workers()
    {
        await using var h = new WorkerHarness(c => c.MapTask("metrics.gauge", (int n) => n));
        var gauges = h.Provider.GetRequiredService<StoreGauges>();
        for (var i = 0; i < 3; i++) await h.Client.SendAsync("metrics.gauge", new { n = i }, o => o.Queue = "gauges");
        await h.Client.SendAsync("metrics.gauge", new { n = 9 }, o => { o.Queue = "gauges"; o.Countdown = TimeSpan.FromHours(1); });
        var operations = h.Provider.GetRequiredService<IOperationsStore>();
        await operations.PutProcessAsync("w1", """{"id":"w1","roles":["worker","beat"]}""", TimeSpan.FromDays(1));   // the test advances the clock until the loop reads: no expiry meanwhile
        await operations.PutProcessAsync("web1", """{"id":"web1","roles":["web"]}""", TimeSpan.FromDays(1));   // the test advances the clock until the loop reads: no expiry meanwhile
        await operations.PutProcessAsync("broken", "not json", TimeSpan.FromDays(1));   // the test advances the clock until the loop reads: no expiry meanwhile
        h.Time.Advance(TimeSpan.FromSeconds(42));

        // Nobody listens: the background loop does not read the store.
        await gauges.StartAsync(CancellationToken.None);
        for (var i = 0; i < 5; i++) h.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(gauges.HasSnapshot);

        var seen = new ConcurrentQueue<Recorded>();
        using var listener = Listen(seen, i => i.Meter == gauges.Meter);
        // A listener enables them: the loop reads the store at its next tick.
        await Eventually.TrueAsync(() => { h.Time.Advance(TimeSpan.FromSeconds(2)); return gauges.HasSnapshot; });
        listener.RecordObservableInstruments();
        await gauges.StopAsync(CancellationToken.None);

        double Gauge(string name, string? state = null) => seen.Single(r => r.Instrument == name
            && (string?)r.Tags.GetValueOrDefault("queue") is "gauges" or null
            && (state is null || (string?)r.Tags["state"] == state)).Value;
        Assert.Equal(3, Gauge("celeriac.queue.depth", "ready"));
        Assert.Equal(1, Gauge("celeriac.queue.depth", "delayed"));
        Assert.Equal(0, Gauge("celeriac.queue.depth", "leased"));
        Assert.Equal(0, Gauge("celeriac.queue.dead_letters"));
        Assert.True(Gauge("celeriac.queue.oldest_ready_age") >= 42);
        Assert.Equal(1, Gauge("celeriac.workers.live"));
        Assert.Equal(0, Gauge("celeriac.worker.in_flight"));
    }
}
