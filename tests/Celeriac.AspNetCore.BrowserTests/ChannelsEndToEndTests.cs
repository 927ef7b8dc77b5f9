using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Celeriac.Testing.Browser;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Celeriac.AspNetCore.BrowserTests;

/// <summary>
/// The whole path in a real browser: a Kestrel app with a consumer in group "news", the page served by the app with
/// celeriac.js, group messages sent from the server side, the connection dropped by the server, messages sent while
/// the client is away, and the client catching up exactly once, in order.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ChannelsEndToEndTests(ChromiumFixture chromium, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    // The page: renders the state from /state in onOpen, then appends every group message to #messages. It also
    // records raw frames (before the client handles them) so the test can tell a frame arrived but was held.
    private const string Page = """
        <!doctype html>
        <html>
        <head><meta charset="utf-8"><title>news</title><link rel="icon" href="data:,"></head>
        <body>
          <p id="status"></p>
          <p id="state"></p>
          <ol id="messages"></ol>
          <script>
            window.rawFrames = [];
            const NativeWebSocket = window.WebSocket;
            window.WebSocket = class extends NativeWebSocket {
              constructor(...args) { super(...args); this.addEventListener("message", (e) => rawFrames.push(e.data)); }
            };
          </script>
          <script src="/_celeriac/celeriac.js"></script>
          <script>
            window.events = [];
            window.statuses = [];
            window.socket = new Celeriac.Socket("/ws/news", {
              backoff: { initialMs: 500, maxMs: 1000, factor: 2 },
              onOpen: async (socket, { reconnected }) => {
                const state = await (await fetch("/state")).json();
                document.getElementById("state").textContent = state.headline;
                events.push("state" + (reconnected ? ":reconnected" : ""));
              },
              onMessage: (message, meta) => {
                if (!meta) return;
                const item = document.createElement("li");
                item.textContent = String(message.n);
                document.getElementById("messages").appendChild(item);
                events.push("message:" + message.n);
              },
              onStatus: (status, info) => {
                document.getElementById("status").textContent = status;
                statuses.push(status + (info.code ? ":" + info.code : ""));
              },
            });
          </script>
        </body>
        </html>
        """;

    private const string ShownMessages = "[...document.querySelectorAll('#messages li')].map(li => li.textContent).join(',')";

    [BrowserFact]
    public async Task Page_shows_state_first_then_every_group_message_once_in_order_across_a_dropped_connection()
    {
        var clock = Stopwatch.StartNew();
        void Mark(string step) => output.WriteLine($"{clock.ElapsedMilliseconds,6} ms  {step}");
        var news = new NewsRoom();
        await using var app = await StartAppAsync(news);
        var url = app.Urls.Single();
        var layer = app.Services.GetRequiredService<IChannelLayer>();

        Mark($"app listening on {url}");
        await using var page = await chromium.NewPageAsync(url + "/");
        Mark("page loaded");
        try
        {
            // In "news" (the client got `joined`: the server's join is complete, so what is sent from now on is
            // delivered); onOpen is fetching /state, which the app holds open.
            await news.Joined.Task.WaitAsync(Timeout);
            await page.WaitForAsync("rawFrames.some((f) => f.includes('\"joined\"'))", Timeout);
            await news.StateRequested.Task.WaitAsync(Timeout);
            await layer.GroupSendAsync("news", new { type = "news.item", n = 1 });
            await page.WaitForAsync("rawFrames.some((f) => f.includes('\"news.item\"'))", Timeout);
            Assert.Equal("", await page.EvaluateAsync<string>(ShownMessages));   // arrived, held behind onOpen
            Mark("message 1 arrived while onOpen waits for /state");

            news.ReleaseState.SetResult();
            await page.WaitForAsync($"{ShownMessages} === '1'", Timeout);
            Assert.Equal("initial state", await page.EvaluateAsync<string>("document.getElementById('state').textContent"));
            Assert.Equal(["state", "message:1"], await page.EvaluateAsync<string[]>("events"));
            Mark("state, then message 1 shown");

            // The server drops the connection and refuses new ones (HTTP 403) while 2..6 are sent.
            news.Accepting = false;
            news.AbortAll();
            await page.WaitForAsync("socket.status === 'reconnecting'", Timeout);
            await WaitUntilAsync(() => news.Connections == 0, "the server to see the connection gone");
            for (var n = 2; n <= 6; n++) await layer.GroupSendAsync("news", new { type = "news.item", n });
            Assert.Equal(0, news.Connections);
            Assert.Equal("reconnecting", await page.EvaluateAsync<string>("socket.status"));
            Mark("connection dropped; 2..6 sent while the client is away");

            // A refused attempt (403, which the browser reports as 1006) is retried like an outage.
            await WaitUntilAsync(() => news.Refused > 0, "a reconnect attempt while the app refuses connections");
            Assert.Equal("reconnecting", await page.EvaluateAsync<string>("document.getElementById('status').textContent"));
            Mark("a reconnect attempt refused");

            // Accepting again: the client reconnects with celeriac-resume=news:1 and the server replays 2..6.
            news.Accepting = true;
            await page.WaitForAsync($"{ShownMessages} === '1,2,3,4,5,6'", Timeout);
            Assert.Equal("open", await page.EvaluateAsync<string>("socket.status"));
            Mark("reconnected: 1..6 shown");

            await layer.GroupSendAsync("news", new { type = "news.item", n = 7 });
            await page.WaitForAsync($"{ShownMessages} === '1,2,3,4,5,6,7'", Timeout);
            Assert.Equal(["state", "message:1", "state:reconnected", "message:2", "message:3", "message:4", "message:5", "message:6", "message:7"],
                await page.EvaluateAsync<string[]>("events"));
            Assert.Equal(7, await page.EvaluateAsync<int>("socket.offsets.news"));
            Mark("7 shown");
            Assert.DoesNotContain(page.Log, line => line.StartsWith("uncaught", StringComparison.Ordinal) || line.Contains("Celeriac:", StringComparison.Ordinal));
        }
        catch
        {
            var screenshot = Path.Combine(Path.GetTempPath(), $"celeriac-browser-{Guid.NewGuid():N}.png");
            await page.ScreenshotAsync(screenshot);
            var seen = await page.EvaluateAsync<string>("JSON.stringify({ status: socket.status, statuses, offsets: socket.offsets, events, rawFrames })");
            output.WriteLine($"Screenshot of the failed page: {screenshot}\nPage: {seen}\nServer: {news.Connects} connects, " +
                $"{news.Connections} open, {news.Refused} refused\nPage log:\n  {string.Join("\n  ", page.Log)}");
            throw;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            if (timeout.IsCancellationRequested) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(10);
        }
    }

    private static async Task<WebApplication> StartAppAsync(NewsRoom news)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(news);
        builder.Services.AddCeleriac(c => c.UseInMemory());
        builder.Services.AddCeleriacChannels();
        var app = builder.Build();
        app.MapCeleriacClient();
        app.MapConsumer<NewsConsumer>("/ws/news");
        app.MapGet("/", () => Results.Content(Page, "text/html; charset=utf-8"));
        app.MapGet("/state", async (NewsRoom room) =>
        {
            room.StateRequested.TrySetResult();
            await room.ReleaseState.Task;
            return new { headline = "initial state" };
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>What the test app shares with the test: the live connections, and gates.</summary>
    private sealed class NewsRoom
    {
        private readonly ConcurrentDictionary<string, HttpContext> _connections = new();
        private int _refused;
        private int _connects;

        public TaskCompletionSource Joined { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource StateRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource ReleaseState { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _accepting = true;

        public bool Accepting { get => _accepting; set => _accepting = value; }
        public int Connections => _connections.Count;
        public int Refused => Volatile.Read(ref _refused);

        public int Connects => Volatile.Read(ref _connects);

        public void Add(string id, HttpContext context)
        {
            Interlocked.Increment(ref _connects);
            _connections[id] = context;
        }
        public void Remove(string id) => _connections.TryRemove(id, out _);
        public void CountRefused() => Interlocked.Increment(ref _refused);

        public void AbortAll()
        {
            foreach (var context in _connections.Values) context.Abort();
        }
    }

    private sealed class NewsConsumer(NewsRoom room) : JsonWebSocketConsumer
    {
        public override async ValueTask OnConnectAsync()
        {
            if (!room.Accepting)
            {
                room.CountRefused();
                return;                                   // not accepted: HTTP 403
            }
            await AcceptAsync();
            await AddToGroupAsync("news");
            room.Add(ConnectionId, HttpContext);
            room.Joined.TrySetResult();
        }

        public override ValueTask OnDisconnectAsync(System.Net.WebSockets.WebSocketCloseStatus? status)
        {
            room.Remove(ConnectionId);
            return ValueTask.CompletedTask;
        }
    }
}
