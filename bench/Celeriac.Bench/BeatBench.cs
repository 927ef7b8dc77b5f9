// Beat tick error: one 0.5 s schedule (by default) fired by the scheduler for N seconds, with a worker in the same
// process running each tick's task. Prints, in milliseconds:
//   fire error   the time the tick's task was sent (recorded in the store, then enqueued) minus the tick's time,
//                from the scheduler's own celeriac.beat.tick_error histogram;
//   run error    the time the worker started the tick's task minus the tick's time (fire + queue + worker pickup).
// Usage: dotnet run -c Release --project bench/Celeriac.Bench -- beat --seconds 60 [--transport sqlite|memory|redis --redis HOST:PORT] [--interval-ms 500]
using System.CommandLine;
using System.Diagnostics.Metrics;
using System.Globalization;
using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

internal static class BeatBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = new Option<int>("--seconds") { Description = "How long to run the schedule.", DefaultValueFactory = _ => 60 };
        var transport = new Option<string>("--transport") { Description = "memory | sqlite | redis", DefaultValueFactory = _ => "sqlite" };
        var redis = new Option<string>("--redis") { Description = "Redis configuration for --transport redis.", DefaultValueFactory = _ => "127.0.0.1:6390" };
        var interval = new Option<int>("--interval-ms") { Description = "The schedule's interval.", DefaultValueFactory = _ => 500 };
        var path = new Option<string?>("--path") { Description = "SQLite file (default: a new temp file)." };
        var command = new RootCommand("Celeriac beat tick-error benchmark") { seconds, transport, interval, path, redis };
        command.SetAction(async (parsed, ct) =>
        {
            var file = parsed.GetValue(path) ?? BenchStore.TempDatabase("celeriac-beat-bench");
            try
            {
                await MeasureAsync(parsed.GetValue(transport)!, parsed.GetValue(seconds), parsed.GetValue(interval), file, parsed.GetValue(redis)!, ct);
                return 0;
            }
            finally
            {
                BenchStore.DeleteDatabase(file);
            }
        });
        return await command.Parse(args).InvokeAsync();
    }

    private static async Task MeasureAsync(string transport, int seconds, int intervalMs, string path, string redis, CancellationToken ct)
    {
        var fireErrors = new List<double>();
        var runErrors = new List<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Celeriac" && instrument.Name == "celeriac.beat.tick_error") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, _, _) => { lock (fireErrors) fireErrors.Add(value); });
        listener.Start();

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddCeleriac(c =>
        {
            BenchStore.Use(c, transport, path, redis);
            c.ConfigureWorker(o => { o.Concurrency = 2; o.Prefetch = 0; });
            c.MapTask("bench.tick", (TaskContext context, TimeProvider time) =>
            {
                // The task id is beat:{schedule}:{tickUnixMs}.
                var tick = long.Parse(context.Id[(context.Id.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
                var error = (time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(tick)).TotalMilliseconds;
                lock (runErrors) runErrors.Add(error);
            });
            c.MapSchedule("bench.beat", "bench.tick", TimeSpan.FromMilliseconds(intervalMs));
        });
        using var host = builder.Build();
        Console.WriteLine($"beat: transport={transport} interval={intervalMs} ms seconds={seconds} cores={Environment.ProcessorCount}");
        await host.StartAsync(ct);
        // The first couple of seconds warm up the JIT, the store and the leader election; they are not counted.
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        lock (fireErrors) fireErrors.Clear();
        lock (runErrors) runErrors.Clear();
        await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
        await host.StopAsync(CancellationToken.None);

        double[] fire, run;
        lock (fireErrors) fire = [.. fireErrors.Order()];
        lock (runErrors) run = [.. runErrors.Order()];
        var expected = seconds * 1000 / intervalMs;
        Console.WriteLine($"ticks fired: {fire.Length} (about {expected} expected)");
        Print("fire error (tick -> task sent)   ", fire);
        Print("run error  (tick -> task started)", run);
    }

    private static void Print(string label, double[] sorted)
    {
        if (sorted.Length == 0)
        {
            Console.WriteLine($"{label}: no samples");
            return;
        }
        Console.WriteLine($"{label}: p50 {BenchStore.Percentile(sorted, 0.50):N2} ms  p99 {BenchStore.Percentile(sorted, 0.99):N2} ms  max {sorted[^1]:N2} ms  ({sorted.Length} ticks)");
    }

}
