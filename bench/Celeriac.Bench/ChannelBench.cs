// Channels fan-out: a web server (a child process, so its memory is its own) holds N idle WebSocket connections in
// one group; this process connects them, then asks the server to send to the group repeatedly. Prints:
//   memory per idle socket   the server's resident set and managed heap (after a full GC) per connection;
//   fan-out latency          time from the send request until the last socket received the message, p50/p99/max
//                            (it includes one loopback HTTP request to trigger GroupSendAsync, ~0.2 ms).
// Usage: dotnet run -c Release --project bench/Celeriac.Bench -- channels [--sockets 10000] [--sends 50] [--transport memory|sqlite|redis --redis HOST:PORT]
// (sqlite: the layer on a fresh file in the temp directory; the send is made in the server process, so this is the
// local path: a write, then the process's feed reads it at once. Another process's send waits for the poll interval.)
using System.Diagnostics;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Celeriac;
using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

internal static partial class ChannelBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sockets = new Option<int>("--sockets") { Description = "Connections in the group.", DefaultValueFactory = _ => 10_000 };
        var sends = new Option<int>("--sends") { Description = "Group sends measured.", DefaultValueFactory = _ => 50 };
        var transport = new Option<string>("--transport") { Description = "memory | sqlite | redis (the channel layer).", DefaultValueFactory = _ => "memory" };
        var redis = new Option<string>("--redis") { Description = "Redis configuration for --transport redis.", DefaultValueFactory = _ => "127.0.0.1:6390" };
        var command = new RootCommand("Celeriac channels fan-out benchmark") { sockets, sends, transport, redis };
        command.SetAction((parsed, ct) => MeasureAsync(parsed.GetValue(sockets), parsed.GetValue(sends), parsed.GetValue(transport)!, parsed.GetValue(redis)!, ct));
        return await command.Parse(args).InvokeAsync();
    }

    /// <summary>The server side: <c>channels-server --port P --transport T</c>.</summary>
    public static async Task<int> ServeAsync(string[] args)
    {
        var port = int.Parse(args[Array.IndexOf(args, "--port") + 1], System.Globalization.CultureInfo.InvariantCulture);
        var transport = args[Array.IndexOf(args, "--transport") + 1];
        FileLimit();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddCeleriac(c =>
        {
            c.UseInMemory();
            if (transport == "sqlite") c.UseSqlite(Path.Combine(Path.GetTempPath(), $"celeriac-bench-{Guid.NewGuid():N}.db"));
            if (transport == "redis") c.UseRedis(args[Array.IndexOf(args, "--redis") + 1], o => o.KeyPrefix = $"bench-{Guid.NewGuid():N}:");
        });
        builder.Services.AddCeleriacChannels(o => o.SendQueueCapacity = 64);
        var app = builder.Build();
        app.MapConsumer<BenchConsumer>("/ws");
        var connected = 0;
        BenchConsumer.Connected = () => Interlocked.Increment(ref connected);
        app.MapPost("/send", async (long seq, IChannelLayer layer) =>
        {
            await layer.GroupSendAsync("bench", new { type = "bench.tick", seq });
            return Results.Ok();
        });
        app.MapGet("/stats", () =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return Results.Json(new Stats(Volatile.Read(ref connected), ResidentBytes(), GC.GetTotalMemory(forceFullCollection: true)));
        });
        await app.RunAsync();
        return 0;
    }

    private sealed class BenchConsumer : WebSocketConsumer
    {
        public static Action Connected { get; set; } = () => { };

        public override async ValueTask OnConnectAsync()
        {
            await AcceptAsync();
            await AddToGroupAsync("bench");
            Connected();
        }
    }

    private sealed record Stats(int Connected, long ResidentBytes, long ManagedBytes);

    private static async Task<int> MeasureAsync(int count, int sends, string transport, string redis, CancellationToken ct)
    {
        var port = FreePort();
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(ChannelBench).Assembly.Location);
        foreach (var a in new[] { "channels-server", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--transport", transport, "--redis", redis }) start.ArgumentList.Add(a);
        start.Environment["DOTNET_gcServer"] = "0"; // workstation GC: the footprint a web process with many idle sockets would choose
        using var server = Process.Start(start)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("server: " + e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var before = await WaitForServerAsync(http, ct);
            Console.WriteLine($"channels: sockets={count} sends={sends} layer={transport} cores={Environment.ProcessorCount} file limit={FileLimit()}");

            var clients = new ClientWebSocket[count];
            var arrivals = new long[count];
            var received = new int[count];
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < count; i += 200)
            {
                await Task.WhenAll(Enumerable.Range(i, Math.Min(200, count - i)).Select(async k =>
                {
                    var client = new ClientWebSocket();
                    await client.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), ct);
                    clients[k] = client;
                }));
            }
            Stats after;
            while ((after = await GetStatsAsync(http, ct)).Connected < count) await Task.Delay(50, ct);
            Console.WriteLine($"connected {count} sockets in {sw.Elapsed.TotalSeconds:N1} s");
            var perSocketRss = (after.ResidentBytes - before.ResidentBytes) / (double)count;
            var perSocketManaged = (after.ManagedBytes - before.ManagedBytes) / (double)count;
            Console.WriteLine($"server memory per idle socket: {perSocketRss / 1024:N1} KiB resident, {perSocketManaged / 1024:N1} KiB managed heap (RSS {before.ResidentBytes / 1048576.0:N0} -> {after.ResidentBytes / 1048576.0:N0} MiB)");

            // Each client's receive loop records when it got each sequence number.
            var expected = 0L;
            var lastArrival = new long[count];
            var loops = Enumerable.Range(0, count).Select(k => Task.Run(async () =>
            {
                var buffer = new byte[4096];
                while (clients[k].State == WebSocketState.Open)
                {
                    WebSocketReceiveResult r;
                    try { r = await clients[k].ReceiveAsync(buffer, ct); }
                    catch (WebSocketException) { return; }
                    catch (OperationCanceledException) { return; }
                    if (r.MessageType == WebSocketMessageType.Close) return;
                    if (!r.EndOfMessage) continue;
                    using var doc = JsonDocument.Parse(buffer.AsMemory(0, r.Count));
                    if (doc.RootElement.TryGetProperty("message", out var m) && m.GetProperty("seq").GetInt64() == Volatile.Read(ref expected))
                    {
                        Volatile.Write(ref lastArrival[k], Stopwatch.GetTimestamp());
                        Interlocked.Increment(ref received[0]);
                    }
                }
            }, ct)).ToArray();

            var latencies = new List<double>();
            for (var s = 0; s < sends + 5; s++)
            {
                Volatile.Write(ref expected, s);
                Interlocked.Exchange(ref received[0], 0);
                var sent = Stopwatch.GetTimestamp();
                (await http.PostAsync($"/send?seq={s}", null, ct)).EnsureSuccessStatusCode();
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (Volatile.Read(ref received[0]) < count && DateTime.UtcNow < deadline) await Task.Delay(1, ct);
                if (Volatile.Read(ref received[0]) < count) throw new TimeoutException($"send {s}: only {received[0]} of {count} sockets got it");
                var last = lastArrival.Max();
                if (s >= 5) latencies.Add(Stopwatch.GetElapsedTime(sent, last).TotalMilliseconds); // 5 warm-up sends
                await Task.Delay(20, ct);
            }
            double[] sorted = [.. latencies.Order()];
            Console.WriteLine($"fan-out to {count} sockets (send -> last socket received): p50 {BenchStore.Percentile(sorted, 0.5):N1} ms  p99 {BenchStore.Percentile(sorted, 0.99):N1} ms  max {sorted[^1]:N1} ms  ({sorted.Length} sends)");

            foreach (var c in clients) c.Abort();
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10), ct).ContinueWith(_ => { }, CancellationToken.None);
            foreach (var c in clients) c.Dispose();
            return 0;
        }
        finally
        {
            if (!server.HasExited) server.Kill();
        }
    }

    private static async Task<Stats> WaitForServerAsync(HttpClient http, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try { return await GetStatsAsync(http, ct); }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { await Task.Delay(100, ct); }
        }
    }

    private static async Task<Stats> GetStatsAsync(HttpClient http, CancellationToken ct) =>
        JsonSerializer.Deserialize<Stats>(await http.GetStringAsync("/stats", ct), JsonSerializerOptions.Web)!;

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return Environment.WorkingSet;
    }

    /// <summary>Raises this process's open-file soft limit to its hard limit (the harness holds one descriptor per socket).</summary>
    private static string FileLimit()
    {
        if (!OperatingSystem.IsLinux()) return "?";
        var limit = new RLimit();
        if (GetRLimit(7, ref limit) != 0) return "?";
        if (limit.Current < limit.Max)
        {
            limit.Current = limit.Max;
            _ = SetRLimit(7, ref limit);
        }
        return limit.Current.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, ref RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, ref RLimit limit);
}
