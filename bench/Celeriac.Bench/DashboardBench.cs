// The dashboard's server cost: one web process (this one) with a worker, a trickle of tasks (20/s) and the dashboard
// mounted at /celeriac on loopback. Two phases of equal length: no page open, then N dashboard sockets open (what a
// browser tab opens: {prefix}/ws, which joins the group the sampler broadcasts to). Prints per phase the process's CPU
// (ms of CPU per second), its resident set and managed heap, and the store commands per second (Redis INFO
// commandstats, so every command the process sends counts, the worker's included). The difference is the dashboard's.
// Usage: dotnet run -c Release --project bench/Celeriac.Bench -- dashboard [--sockets 10] [--seconds 20] --redis HOST:PORT
using System.Diagnostics;
using System.Net.WebSockets;
using System.CommandLine;
using Celeriac;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

internal static class DashboardBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sockets = new Option<int>("--sockets") { Description = "Dashboard sockets open in the second phase.", DefaultValueFactory = _ => 10 };
        var seconds = new Option<int>("--seconds") { Description = "Length of each phase.", DefaultValueFactory = _ => 20 };
        var redis = new Option<string>("--redis") { Description = "Redis configuration (the bench starts no server).", DefaultValueFactory = _ => "127.0.0.1:6390" };
        var command = new RootCommand("Celeriac dashboard server-cost benchmark") { sockets, seconds, redis };
        command.SetAction((parsed, ct) => MeasureAsync(parsed.GetValue(sockets), parsed.GetValue(seconds), parsed.GetValue(redis)!, ct));
        return await command.Parse(args).InvokeAsync();
    }

    private static async Task<int> MeasureAsync(int sockets, int seconds, string redis, CancellationToken ct)
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddCeleriac(c =>
        {
            c.UseRedis(redis, o => o.KeyPrefix = $"bench-{Guid.NewGuid():N}:");
            c.MapTask("bench.work", (int n) => n);
            c.ConfigureWorker(o => o.Concurrency = 4);
        });
        builder.Services.AddCeleriacDashboard();
        await using var app = builder.Build();
        app.UseWebSockets();
        app.MapCeleriacDashboard("/celeriac");
        await app.StartAsync(ct);

        using var counter = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true");
        var server = counter.GetServer(counter.GetEndPoints()[0]);
        var client = app.Services.GetRequiredService<ITaskClient>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var feeder = Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                await client.SendAsync("bench.work", new { n });
                try { await Task.Delay(50, stop.Token); } catch (OperationCanceledException) { }
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(3), ct);   // warm up
        var idle = await PhaseAsync(server, seconds, ct);
        var open = new List<ClientWebSocket>();
        var received = 0L;
        for (var i = 0; i < sockets; i++)
        {
            var ws = new ClientWebSocket();
            await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/celeriac/ws"), ct);
            open.Add(ws);
            _ = Task.Run(async () =>
            {
                var buffer = new byte[1 << 16];
                try { while (ws.State == WebSocketState.Open) { var r = await ws.ReceiveAsync(buffer, stop.Token); if (r.EndOfMessage) Interlocked.Increment(ref received); } }
                catch (Exception) { }
            });
        }
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        var before = Interlocked.Read(ref received);
        var watched = await PhaseAsync(server, seconds, ct);
        var frames = (Interlocked.Read(ref received) - before) / (double)seconds;

        await stop.CancelAsync();
        await feeder;
        foreach (var ws in open) ws.Abort();
        Console.WriteLine($"dashboard bench: redis, worker at 20 tasks/s, {seconds} s per phase, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine($"{"phase",-22} {"CPU ms/s",9} {"RSS MB",8} {"heap MB",8} {"Redis cmds/s",13}");
        Console.WriteLine(idle.Row("no dashboard open"));
        Console.WriteLine(watched.Row($"{sockets} dashboards open"));
        Console.WriteLine($"difference: {watched.CpuMsPerSecond - idle.CpuMsPerSecond:F1} ms CPU/s, {watched.CommandsPerSecond - idle.CommandsPerSecond:F1} Redis commands/s, {watched.RssMb - idle.RssMb:F1} MB RSS; frames received per socket per second: {frames / Math.Max(1, sockets):F2}");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private sealed record Phase(double CpuMsPerSecond, double RssMb, double HeapMb, double CommandsPerSecond)
    {
        public string Row(string name) => $"{name,-22} {CpuMsPerSecond,9:F1} {RssMb,8:F1} {HeapMb,8:F1} {CommandsPerSecond,13:F1}";
    }

    private static async Task<Phase> PhaseAsync(IServer server, int seconds, CancellationToken ct)
    {
        var process = Process.GetCurrentProcess();
        var commands = await CommandsAsync(server);
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
        var elapsed = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds / elapsed;
        var commandsPerSecond = (await CommandsAsync(server) - commands - 1) / elapsed;   // the INFO call itself
        return new Phase(cpuMs, process.WorkingSet64 / 1048576.0, GC.GetTotalMemory(false) / 1048576.0, commandsPerSecond);
    }

    /// <summary>Commands the server has run since it started (sum of INFO commandstats calls).</summary>
    private static async Task<long> CommandsAsync(IServer server)
    {
        long total = 0;
        foreach (var group in await server.InfoAsync("commandstats"))
            foreach (var pair in group)
                if (pair.Value.Split(',').FirstOrDefault(p => p.StartsWith("calls=", StringComparison.Ordinal)) is { } calls)
                    total += long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        return total;
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
