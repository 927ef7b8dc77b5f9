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

    public static void Completed(string task, string state) =>
        Tasks.Add(1, new KeyValuePair<string, object?>("task", task), new KeyValuePair<string, object?>("state", state));
}
