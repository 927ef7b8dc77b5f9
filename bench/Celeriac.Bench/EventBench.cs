// Events: one durable subscription consumed by a worker in the same process. Prints:
//   latency      publish -> handler start, one event at a time (the next is published once the handler ran), p50/p99/max;
//   throughput   N events published by 16 concurrent publishers while the worker consumes; events/s from the first
//                publish to the last handler run, and the publish rate alone.
// Usage: dotnet run -c Release --project bench/Celeriac.Bench -- events [--transport sqlite|memory|redis --redis HOST:PORT] [--events 20000] [--latency-samples 2000] [--concurrency 8]
using System.CommandLine;
using System.Diagnostics;
using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

internal static class EventBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var transport = new Option<string>("--transport") { Description = "memory | sqlite | redis", DefaultValueFactory = _ => "sqlite" };
        var redis = new Option<string>("--redis") { Description = "Redis configuration for --transport redis.", DefaultValueFactory = _ => "127.0.0.1:6390" };
        var events = new Option<int>("--events") { Description = "Events in the throughput run.", DefaultValueFactory = _ => 20_000 };
        var samples = new Option<int>("--latency-samples") { Description = "Sequential publish->handler samples.", DefaultValueFactory = _ => 2_000 };
        var concurrency = new Option<int>("--concurrency") { Description = "Worker concurrency.", DefaultValueFactory = _ => 8 };
        var path = new Option<string?>("--path") { Description = "SQLite file (default: a new temp file)." };
        var command = new RootCommand("Celeriac events benchmark") { transport, redis, events, samples, concurrency, path };
        command.SetAction(async (parsed, ct) =>
        {
            var file = parsed.GetValue(path) ?? BenchStore.TempDatabase("celeriac-events-bench");
            try
            {
                await MeasureAsync(parsed.GetValue(transport)!, parsed.GetValue(redis)!, file, parsed.GetValue(events), parsed.GetValue(samples), parsed.GetValue(concurrency), ct);
                return 0;
            }
            finally
            {
                BenchStore.DeleteDatabase(file);
            }
        });
        return await command.Parse(args).InvokeAsync();
    }

    private static async Task MeasureAsync(string transport, string redis, string path, int count, int samples, int concurrency, CancellationToken ct)
    {
        // The handler gets the publisher's Stopwatch timestamp (same process, so the same clock).
        var handled = 0;
        long lastHandled = 0;
        var latencies = new List<double>();
        var measuring = false;
        TaskCompletionSource? waiter = null;

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddCeleriac(c =>
        {
            BenchStore.Use(c, transport, path, redis);
            c.ConfigureWorker(o => { o.Concurrency = concurrency; o.Prefetch = concurrency * 4; });
            c.MapSubscription("bench.>", (long sent) =>
            {
                var now = Stopwatch.GetTimestamp();
                if (measuring) lock (latencies) latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                Interlocked.Increment(ref handled);
                Volatile.Write(ref lastHandled, now);
                waiter?.TrySetResult();
            }, durable: "bench");
        });
        using var host = builder.Build();
        var bus = host.Services.GetRequiredService<IEventBus>();
        Console.WriteLine($"events: transport={transport} events={count} latency-samples={samples} concurrency={concurrency} cores={Environment.ProcessorCount}");
        await host.StartAsync(ct);
        var store = host.Services.GetRequiredService<Celeriac.Transport.IEventStore>();
        while (!(await store.GetSubscriptionsAsync(ct)).Any(s => s.Name == "bench")) await Task.Delay(10, ct);

        // Latency: one at a time, after 200 warm-up events.
        for (var i = 0; i < samples + 200; i++)
        {
            measuring = i >= 200;
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await bus.PublishAsync("bench.latency", Stopwatch.GetTimestamp(), ct);
            await waiter.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
        waiter = null;
        measuring = false;
        double[] sorted;
        lock (latencies) sorted = [.. latencies.Order()];
        Console.WriteLine($"publish -> handler latency: p50 {BenchStore.Percentile(sorted, 0.50):N2} ms  p99 {BenchStore.Percentile(sorted, 0.99):N2} ms  max {sorted[^1]:N2} ms  ({sorted.Length} events, one at a time)");

        // Throughput: 16 publishers, the worker consuming at the same time.
        var before = Volatile.Read(ref handled);
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
                await bus.PublishAsync("bench.throughput", Stopwatch.GetTimestamp(), ct);
        }, ct)));
        var published = Stopwatch.GetElapsedTime(started);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (Volatile.Read(ref handled) - before < count && DateTime.UtcNow < deadline) await Task.Delay(5, ct);
        var done = Volatile.Read(ref handled) - before;
        var total = Stopwatch.GetElapsedTime(started, Volatile.Read(ref lastHandled));
        Console.WriteLine($"publish rate: {count / published.TotalSeconds:N0} events/s ({count} events by 16 publishers in {published.TotalSeconds:N2} s)");
        Console.WriteLine($"end to end: {done / total.TotalSeconds:N0} events/s ({done} of {count} handled {total.TotalSeconds:N2} s after the first publish)");
        await host.StopAsync(CancellationToken.None);
    }
}
