using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Celeriac.Transport.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>
/// The channel layer across processes, on Redis and on a SQLite file: clients are connected to two web processes
/// (Celeriac.TestWeb), a worker process (Celeriac.TestWorker) sends to their group, and every client of both gets every
/// message in order; a send from a third process reaches a client within a bounded latency; the members of a web
/// process killed with SIGKILL disappear from the group. Each store's class is a one-line subclass.
/// </summary>
public abstract class ChannelProcessTests(ITestOutputHelper output) : IDisposable
{
    private const int ClientsPerWeb = 5;
    private const int Messages = 30;
    private const int LatencyProbes = 20;

    protected string Dir { get; } = Directory.CreateTempSubdirectory("celeriac-channels-").FullName;

    internal abstract Store CreateStore();

    [Fact]
    public async Task A_worker_process_sends_to_a_group_and_clients_of_two_web_processes_all_get_it_in_order()
    {
        var store = CreateStore();
        using var webA = WebProcess.Start(store);
        using var webB = WebProcess.Start(store);
        using var worker = new WorkerProcess(store, Path.Combine(Dir, "worker.log"), concurrency: 1, prefetch: 0);
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var urlA = await webA.WaitForUrlAsync(TimeSpan.FromSeconds(60));
        var urlB = await webB.WaitForUrlAsync(TimeSpan.FromSeconds(60));

        var clients = new List<ClientWebSocket>();
        foreach (var url in Enumerable.Repeat(urlA, ClientsPerWeb).Concat(Enumerable.Repeat(urlB, ClientsPerWeb)))
        {
            var client = new ClientWebSocket();
            await client.ConnectAsync(new Uri(url.Replace("http://", "ws://", StringComparison.Ordinal) + "/ws/news"), CancellationToken.None);
            Assert.Equal("joined", Kind(await ReceiveAsync(client)));
            clients.Add(client);
        }

        await using var producer = new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider();
        var layer = producer.GetRequiredService<IChannelLayer>();
        await WaitUntilAsync(async () => (await layer.GetMembersAsync("news")).Count == 2 * ClientsPerWeb, "both web processes to report their members");
        var nodes = (await layer.GetMembersAsync("news")).Select(m => m.Node).Distinct().Count();
        Assert.Equal(2, nodes);

        // One task at a time (concurrency 1): the worker process sends n = 1..30 in order.
        var tasks = producer.GetRequiredService<ITaskClient>();
        for (var n = 1; n <= Messages; n++) await tasks.SendAsync("proc.group_send", new { group = "news", n });

        var received = await Task.WhenAll(clients.Select(async client =>
        {
            var numbers = new List<int>();
            while (numbers.Count < Messages)
            {
                var frame = await ReceiveAsync(client);
                if (Kind(frame) == "message") numbers.Add(frame.GetProperty("message").GetProperty("n").GetInt32());
            }
            return numbers;
        }));
        Assert.All(received, numbers => Assert.Equal(Enumerable.Range(1, Messages), numbers));

        // Latency: this process sends, one at a time; a client of web process A receives (on SQLite: a commit seen by
        // A's change monitor, at most a poll interval later, then the socket).
        var latencies = new List<TimeSpan>();
        for (var n = 1; n <= LatencyProbes; n++)
        {
            var clock = Stopwatch.StartNew();
            await layer.GroupSendAsync("news", new { type = "probe", n });
            while (true)
            {
                var frame = await ReceiveAsync(clients[0]);
                if (Kind(frame) == "message" && frame.GetProperty("message").GetProperty("n").GetInt32() == n) break;
            }
            latencies.Add(clock.Elapsed);
        }
        latencies.Sort();
        var p50 = latencies[latencies.Count / 2];
        output.WriteLine($"send -> WebSocket client in another process: p50 {p50.TotalMilliseconds:N1} ms, max {latencies[^1].TotalMilliseconds:N1} ms ({LatencyProbes} sequential sends)");
        Assert.True(p50 < TimeSpan.FromSeconds(1), $"p50 latency {p50}");

        // A web process that dies takes its members with it (its report expires after three report intervals).
        webB.Kill();
        var killedAt = Stopwatch.StartNew();
        await WaitUntilAsync(async () => (await layer.GetMembersAsync("news")).Count == ClientsPerWeb, "the killed process's members to disappear");
        output.WriteLine($"members of the killed web process gone after {killedAt.Elapsed.TotalSeconds:N1} s");
        foreach (var client in clients) client.Dispose();
    }

    private static string Kind(JsonElement frame) => frame.GetProperty("celeriac").GetString()!;

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (true)
        {
            var result = await client.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            length += result.Count;
            if (result.EndOfMessage) return JsonDocument.Parse(Encoding.UTF8.GetString(buffer, 0, length)).RootElement.Clone();
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    /// <summary>A Celeriac.TestWeb child process serving `web` on a free loopback port.</summary>
    private sealed class WebProcess : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _output = [];

        private WebProcess(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public static WebProcess Start(Store store)
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "Celeriac.TestWeb", "bin", configuration, "net10.0", "Celeriac.TestWeb.dll"));
            if (!File.Exists(dll)) throw new FileNotFoundException("The test web app was not built.", dll);
            var start = new ProcessStartInfo("dotnet") { ArgumentList = { dll, "web", "--urls", "http://127.0.0.1:0" }, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            store.Export(start.Environment);
            return new WebProcess(Process.Start(start)!);
        }

        public async Task<string> WaitForUrlAsync(TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                lock (_output)
                {
                    var line = _output.FirstOrDefault(l => l.Contains("Now listening on: http://127.0.0.1:", StringComparison.Ordinal));
                    if (line is not null) return line[line.IndexOf("http://", StringComparison.Ordinal)..].Trim();
                }
                if (_process.HasExited) throw new InvalidOperationException($"The web app exited: {string.Join('\n', _output)}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"The web app did not start: {string.Join('\n', _output)}");
                await Task.Delay(20);
            }
        }

        public void Kill() => _process.Kill(entireProcessTree: false);

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(5000);
            _process.Dispose();
        }
    }
}

public sealed class SqliteChannelProcessTests(ITestOutputHelper output) : ChannelProcessTests(output)
{
    internal override Store CreateStore() => new SqliteStore(Path.Combine(Dir, "channels.db"));
}

public sealed class RedisChannelProcessTests(RedisServer redis, ITestOutputHelper output) : ChannelProcessTests(output), IClassFixture<RedisServer>
{
    internal override Store CreateStore() => new RedisStore(redis.Configuration, redis.NewPrefix());
}
