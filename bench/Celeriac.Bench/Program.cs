// Throughput and latency harness. For each transport it measures, in one process:
//   send rate     N no-op tasks sent by 16 concurrent senders while no worker runs;
//   drain rate    those N tasks run by a worker started afterwards (worker start to queue empty);
//   round trip    send -> result awaited, one task at a time, with the worker running (p50/p99/max);
//   peak memory   the process's peak resident set (VmHWM), sender and worker together.
using System.CommandLine;
using System.Diagnostics;
using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// `beat [--seconds N] [--transport memory|sqlite|redis] [--interval-ms N]`: tick error of a beat schedule (BeatBench.cs).
if (args is ["beat", ..]) return await BeatBench.RunAsync(args[1..]);
// `events [--transport memory|sqlite|redis] [--events N]`: publish -> durable handler latency and events/s (EventBench.cs).
if (args is ["events", ..]) return await EventBench.RunAsync(args[1..]);
// `channels [--sockets N] [--sends N] [--transport memory|redis]`: group fan-out latency and memory per idle socket (ChannelBench.cs).
if (args is ["channels", ..]) return await ChannelBench.RunAsync(args[1..]);
// `dashboard [--sockets N] [--seconds N] --redis HOST:PORT`: the dashboard's server cost, none vs N open (DashboardBench.cs).
if (args is ["dashboard", ..]) return await DashboardBench.RunAsync(args[1..]);
if (args is ["channels-server", ..]) return await ChannelBench.ServeAsync(args[1..]);

var transportOption = new Option<string>("--transport") { Description = "memory | sqlite | redis", DefaultValueFactory = _ => "sqlite" };
var tasksOption = new Option<int>("--tasks") { Description = "Tasks to send and drain.", DefaultValueFactory = _ => 20_000 };
var concurrencyOption = new Option<int>("--concurrency") { Description = "Worker concurrency.", DefaultValueFactory = _ => 8 };
var prefetchOption = new Option<int?>("--prefetch") { Description = "Worker prefetch (default: concurrency * 4)." };
var roundTripsOption = new Option<int>("--round-trips") { Description = "Sequential send->result samples.", DefaultValueFactory = _ => 1_000 };
var pathOption = new Option<string?>("--path") { Description = "SQLite file (default: a new temp file)." };
var redisOption = new Option<string>("--redis") { Description = "Redis configuration for --transport redis (the bench starts no server; see docs/redis.md).", DefaultValueFactory = _ => "127.0.0.1:6390" };

var root = new RootCommand("Celeriac throughput and latency harness") { transportOption, tasksOption, concurrencyOption, prefetchOption, roundTripsOption, pathOption, redisOption };
root.SetAction(async (parse, ct) =>
{
    var transport = parse.GetValue(transportOption)!;
    var tasks = parse.GetValue(tasksOption);
    var concurrency = parse.GetValue(concurrencyOption);
    var prefetch = parse.GetValue(prefetchOption) ?? concurrency * 4;
    var roundTrips = parse.GetValue(roundTripsOption);
    var path = parse.GetValue(pathOption) ?? BenchStore.TempDatabase("celeriac-bench");
    var redis = parse.GetValue(redisOption)!;
    try
    {
        await Bench.RunAsync(transport, tasks, concurrency, prefetch, roundTrips, path, redis, ct);
        return 0;
    }
    finally
    {
        BenchStore.DeleteDatabase(path);
    }
});
return await root.Parse(args).InvokeAsync();

internal static class Bench
{
    private static long s_done;
    private static TaskCompletionSource s_allDone = new();
    private static long s_target;

    public static async Task RunAsync(string transport, int tasks, int concurrency, int prefetch, int roundTrips, string path, string redis, CancellationToken ct)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddCeleriac(c =>
        {
            BenchStore.Use(c, transport, path, redis);
            c.ConfigureWorker(o => { o.Concurrency = concurrency; o.Prefetch = prefetch; });
            c.MapTask("bench.noop", () =>
            {
                if (Interlocked.Increment(ref s_done) == Interlocked.Read(ref s_target)) s_allDone.TrySetResult();
            });
            c.MapTask("bench.echo", (int n) => n);
        });
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<ITaskClient>();

        Console.WriteLine($"transport={transport} tasks={tasks} concurrency={concurrency} prefetch={prefetch} cores={Environment.ProcessorCount}");

        // Warm up the JIT and the store (not measured).
        await client.SendAsync("bench.echo", new[] { 0 }, cancellationToken: ct);

        // 1. Send rate: no worker running.
        s_target = tasks + 0;
        var senders = 16;
        var sendClock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            for (var i = s; i < tasks; i += senders)
                await client.SendAsync("bench.noop", cancellationToken: ct);
        }, ct)));
        sendClock.Stop();
        Console.WriteLine($"send:       {tasks / sendClock.Elapsed.TotalSeconds,10:N0} tasks/s  ({tasks} in {sendClock.Elapsed.TotalMilliseconds:N0} ms, {senders} concurrent senders)");

        // 2. Drain rate: start the worker, wait until every no-op ran and the queues are empty.
        var drainClock = Stopwatch.StartNew();
        await host.StartAsync(ct);
        await s_allDone.Task.WaitAsync(TimeSpan.FromMinutes(10), ct);
        var transportApi = host.Services.GetRequiredService<Celeriac.Transport.ITaskTransport>();
        while ((await transportApi.GetQueueStatsAsync(ct)).Sum(q => q.Ready + q.Leased) > 1)
            await Task.Delay(1, ct);
        drainClock.Stop();
        Console.WriteLine($"drain:      {tasks / drainClock.Elapsed.TotalSeconds,10:N0} tasks/s  ({tasks} in {drainClock.Elapsed.TotalMilliseconds:N0} ms)");

        // 3. Round trip: one task at a time, send -> result.
        var samples = new double[roundTrips];
        for (var i = 0; i < 50; i++) await (await client.SendAsync("bench.echo", new[] { i }, cancellationToken: ct)).GetAsync<int>(TimeSpan.FromSeconds(10), ct);
        for (var i = 0; i < roundTrips; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var handle = await client.SendAsync("bench.echo", new[] { i }, cancellationToken: ct);
            await handle.GetAsync<int>(TimeSpan.FromSeconds(10), ct);
            samples[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }
        Array.Sort(samples);
        Console.WriteLine($"round trip: p50 {BenchStore.Percentile(samples, 0.50):N3} ms  p99 {BenchStore.Percentile(samples, 0.99):N3} ms  max {samples[^1]:N3} ms  ({roundTrips} sequential)");
        Console.WriteLine($"peak memory (process, sender + worker): {PeakRssMb():N0} MB");
        await host.StopAsync(CancellationToken.None);
    }

    private static double PeakRssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024;
        return Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
    }
}
