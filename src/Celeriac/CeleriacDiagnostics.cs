using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Celeriac;

/// <summary>The <see cref="ActivitySource"/> and <see cref="Meter"/> named <c>Celeriac</c>, for OpenTelemetry.</summary>
internal static class CeleriacDiagnostics
{
    public const string Name = "Celeriac";
    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);
    public static readonly Counter<long> Tasks = Meter.CreateCounter<long>("celeriac.tasks", "{task}", "Tasks settled by workers, by task and final state.");
    public static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("celeriac.task.duration", "ms", "Run time of tasks.");
    public static readonly Counter<long> BeatTicks = Meter.CreateCounter<long>("celeriac.beat.ticks", "{tick}", "Schedule ticks fired (recorded and sent) by the beat leader, by schedule.");
    public static readonly Histogram<double> BeatTickError = Meter.CreateHistogram<double>("celeriac.beat.tick_error", "ms", "Time a tick's task was sent minus the tick's scheduled time, for ticks fired on time (not missed or re-sent ones).");

    public static readonly Counter<long> Events = Meter.CreateCounter<long>("celeriac.events.published", "{event}", "Events published, by subject.");

    public static void Published(string subject) => Events.Add(1, new KeyValuePair<string, object?>("subject", subject));

    public static void Completed(string task, string state) =>
        Tasks.Add(1, new KeyValuePair<string, object?>("task", task), new KeyValuePair<string, object?>("state", state));

    /// <summary>Counts a fired tick; <paramref name="errorMs"/> (send time minus tick time) for ticks fired on time.</summary>
    public static void TickFired(string schedule, double? errorMs)
    {
        var tag = new KeyValuePair<string, object?>("schedule", schedule);
        BeatTicks.Add(1, tag);
        if (errorMs is { } error) BeatTickError.Record(error, tag);
    }
}
