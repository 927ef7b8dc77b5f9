using System.Diagnostics;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using Celeriac.Testing.Browser;
using Xunit.Abstractions;

namespace CleanEnergy.EndToEndTests;

/// <summary>
/// The reference application as a user meets it: <c>dotnet CleanEnergy.dll</c> in one-command mode (see
/// <see cref="EnergyAppProcess"/>), pages in headless Chromium, the vendor simulator's <c>/admin</c> controls and the
/// app's own command line.
/// </summary>
[Collection(EnergyCollection.Name)]
public sealed class EndToEndTests(EnergyFixture energy, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = EnergyFixture.Timeout;

    /// <summary>
    /// When set, the grid test saves the dashboard's screenshot there as <c>dashboard.png</c> (a relative path is read from
    /// the repository root): <c>CELERIAC_SCREENSHOT_DIR=docs/images</c> makes the one the sample's README shows.
    /// </summary>
    public const string ScreenshotVariable = "CELERIAC_SCREENSHOT_DIR";

    private const string DeviceRows = "document.querySelectorAll('#devices tbody tr[data-device-id]')";

    [BrowserFact]
    public async Task Pages_need_a_login_and_the_dashboard_loads_after_it()
    {
        var app = await energy.AppAsync();
        using (var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = new Uri(app.Url) })
        {
            foreach (var page in new[] { "/", "/users", "/chat/lobby" })
            {
                var response = await http.GetAsync(page);
                Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
                Assert.Contains("/login?ReturnUrl=", response.Headers.Location!.ToString(), StringComparison.Ordinal);
            }
            foreach (var api in new[] { "/api/users", "/api/grid/history", "/api/time", "/ws/dashboard", "/ws/chat/lobby" })
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(api)).StatusCode);
        }

        var browser = await energy.BrowserAsync();
        await using var login = await browser.NewPageAsync($"{app.Url}/");
        await DiagnoseAsync(app, [login], async () =>
        {
            Assert.Equal("/login", new Uri(login.Page.Url).AbsolutePath);
            await login.Page.FillAsync("#userName", "alice");
            await login.Page.FillAsync("#password", "not-the-password");
            await login.Page.ClickAsync("#login-form button[type=submit]");
            await login.WaitForAsync("document.querySelector('.form-error')?.textContent.includes('Wrong user name or password')", Timeout);

            await login.Page.FillAsync("#password", "demo");
            await login.Page.ClickAsync("#login-form button[type=submit]");
            await login.WaitForUrlAsync(url => url.AbsolutePath == "/", Timeout);
            Assert.Equal("Alice Demo", await login.EvaluateAsync<string>("document.getElementById('me').textContent"));
            await login.WaitForAsync($"{DeviceRows}.length === 6", Timeout);
            await login.WaitForAsync("document.getElementById('live').dataset.status === 'open'", Timeout);

            // The login was recorded (LastLoginAt: not replicated, so no users.changed and no version bump).
            var alice = await login.EvaluateAsync<JsonElement>("fetch('/api/users').then(r => r.json()).then(us => us.find(u => u.userName === 'alice'))");
            Assert.Equal(JsonValueKind.String, alice.GetProperty("lastLoginAt").ValueKind);
            Assert.Equal(1, alice.GetProperty("version").GetInt64());

            await login.Page.ClickAsync("#logout-form button");
            await login.WaitForUrlAsync(url => url.AbsolutePath == "/login", Timeout);
            await login.Page.GotoAsync($"{app.Url}/users");
            Assert.Equal("/login", new Uri(login.Page.Url).AbsolutePath);
        });
    }

    [BrowserFact]
    public async Task The_clock_ticks_and_the_chart_gets_new_points()
    {
        var app = await energy.AppAsync();
        await using var page = await energy.LoginAsync("alice");
        await DiagnoseAsync(app, [page], async () =>
        {
            // The first value comes from /api/time in onOpen: the clock is never blank once the socket is open.
            await page.WaitForAsync("document.getElementById('clock').dataset.now", Timeout);
            var first = await ClockAsync(page);
            await Task.Delay(TimeSpan.FromSeconds(1));
            await page.WaitForAsync($"document.getElementById('clock').textContent !== '{first.Text}'", TimeSpan.FromSeconds(5));
            var second = await ClockAsync(page);
            Assert.NotEqual(first.Text, second.Text);
            Assert.True(second.Now > first.Now, $"{first.Now:O} then {second.Now:O}");
            Assert.Matches(@"^\d\d:\d\d:\d\d$", second.Text);

            // Points of the last 10 minutes from /api/grid/history, then one per grid.refresh (every 2 s).
            await page.WaitForAsync("Number(document.getElementById('chart').dataset.points) >= 1", Timeout);
            var last = await page.EvaluateAsync<string>("document.getElementById('chart').dataset.last");
            var points = await page.EvaluateAsync<int>("dashboard.series.x.length");
            await page.WaitForAsync($"document.getElementById('chart').dataset.last !== '{last}'", Timeout);
            await page.WaitForAsync($"dashboard.series.x.length > {points}", Timeout);
            Assert.True(await page.EvaluateAsync<bool>("dashboard.series.power.every(p => p >= 0) && dashboard.series.grid.every(g => g > 0)"));
            Assert.NotEqual("–", await page.EvaluateAsync<string>("document.getElementById('grid-value').textContent"));
        });
    }

    [BrowserFact]
    public async Task Flipping_the_grid_switches_the_devices_and_the_page_shows_it()
    {
        var app = await energy.AppAsync();
        using var vendor = new HttpClient { BaseAddress = app.VendorUrl, Timeout = TimeSpan.FromSeconds(10) };
        await using var page = await energy.LoginAsync("bob");
        var clock = Stopwatch.StartNew();
        try
        {
            await DiagnoseAsync(app, [page], () => FlipAsync(app, vendor, page, clock));
        }
        finally
        {
            (await vendor.PutAsJsonAsync("admin/grid", new { mode = "auto" })).EnsureSuccessStatusCode();
        }
    }

    /// <summary>
    /// Clean → every device on, dirty → every device off, clean → on again, each seen on the page (grid.refresh every
    /// 2 s, devices.decide_all every 5 s, then the switch's device.state). Then, when asked, the README's screenshot.
    /// </summary>
    private async Task FlipAsync(EnergyAppProcess app, HttpClient vendor, BrowserPage page, Stopwatch clock)
    {
        // For the README's picture only: some history first, and time on each plateau, so the chart shows the steps.
        var screenshots = Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 };
        if (screenshots) await page.WaitForAsync("dashboard.series.x.at(-1) - dashboard.series.x[0] >= 30", TimeSpan.FromSeconds(60));
        await page.WaitForAsync($"{DeviceRows}.length === 6", Timeout);
        foreach (var (mode, state, level) in new[] { ("clean", "on", "clean"), ("dirty", "off", "dirty"), ("clean", "on", "clean") })
        {
            if (screenshots) await Task.Delay(TimeSpan.FromSeconds(8));
            (await vendor.PutAsJsonAsync("admin/grid", new { mode })).EnsureSuccessStatusCode();
            await page.WaitForAsync($"[...{DeviceRows}].every(tr => tr.dataset.state === '{state}')", TimeSpan.FromSeconds(45));
            await page.WaitForAsync($"document.getElementById('grid-level').textContent === '{level}'", Timeout);
            Assert.Equal(state == "on" ? "6" : "0", await page.EvaluateAsync<string>("document.getElementById('devices-on').textContent"));
            output.WriteLine($"{clock.ElapsedMilliseconds,6} ms  grid {mode}: every device {state} on the page");
        }
        // The chart saw both: a point at the dirty value and a later one at the clean value.
        Assert.True(await page.EvaluateAsync<bool>("(() => { const g = dashboard.series.grid; const d = g.lastIndexOf(430); return d >= 0 && g.slice(d).includes(90); })()"));

        if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } directory)
        {
            var (code, text) = await app.RunCommandAsync("send", "--on", "alerts.ops.note", "Grid is clean again: all six devices switched on");
            Assert.True(code == 0, text);
            await page.WaitForAsync("document.querySelectorAll('#alerts li[data-alert-id]').length > 0", Timeout);
            await Task.Delay(TimeSpan.FromSeconds(2.5));   // one more grid point after the flip, and the clock moves on
            var path = Path.GetFullPath(Path.Combine(directory, "dashboard.png"), EnergyAppProcess.RepositoryRoot);   // relative: to the repository
            await page.Page.ScreenshotAsync(new() { Path = path, FullPage = true });
            output.WriteLine($"screenshot: {path}");
        }
    }

    [BrowserFact]
    public async Task Two_users_in_a_chat_room_see_each_others_messages_signed_with_their_logins()
    {
        var app = await energy.AppAsync();
        var room = $"e2e-{Guid.NewGuid():N}"[..16];
        var clock = Stopwatch.StartNew();
        void Mark(string step) => output.WriteLine($"{clock.ElapsedMilliseconds,6} ms  {step}");
        await using var alice = await energy.LoginAsync("alice", $"/chat/{room}");
        Mark("alice logged in");
        await DiagnoseAsync(app, [alice], async () =>
        {
            await alice.WaitForAsync("document.getElementById('live').dataset.status === 'open'", Timeout);
            Mark("alice's socket is open");
            await SendChatAsync(alice, "Hello from Alice");
            await alice.WaitForAsync(MessageShown("Alice Demo", "Hello from Alice"), Timeout);
            Mark("alice sees her message");

            // Bob joins later: the room's recent history comes first.
            await using var bob = await energy.LoginAsync("bob", $"/chat/{room}");
            Mark("bob logged in");
            await DiagnoseAsync(app, [alice, bob], async () =>
            {
                await bob.WaitForAsync(MessageShown("Alice Demo", "Hello from Alice"), Timeout);
                Mark("bob logged in and sees alice's message from the history");
                await SendChatAsync(bob, "Hi Alice, Bob here");
                await alice.WaitForAsync(MessageShown("Bob Demo", "Hi Alice, Bob here"), Timeout);
                await bob.WaitForAsync(MessageShown("Bob Demo", "Hi Alice, Bob here"), Timeout);

                // The sender's name is the login's, whatever the client claims.
                await alice.EvaluateAsync("chat.socket.send({ text: 'I am not Bob', name: 'Bob Demo', userName: 'bob' })");
                await bob.WaitForAsync(MessageShown("Alice Demo", "I am not Bob"), Timeout);
                Mark("each sees the other's messages");
                Assert.Equal(["Alice Demo", "Bob Demo", "Alice Demo"], await bob.EvaluateAsync<string[]>("[...document.querySelectorAll('#messages .sender')].map(s => s.textContent)"));
                Assert.Equal(3, await alice.EvaluateAsync<int>("document.querySelectorAll('#messages li[data-offset]').length"));
                Assert.Equal(["bob"], await bob.EvaluateAsync<string[]>("[...document.querySelectorAll('#messages li.mine')].map(li => li.dataset.user)"));
            });

            // Room names are checked (lower-case letters, digits, '-' and '_'): the page is 404, the socket refused (403).
            var cookie = string.Join("; ", (await alice.Page.Context.CookiesAsync()).Select(c => $"{c.Name}={c.Value}"));
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Url) };
            http.DefaultRequestHeaders.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/chat/no.dots")).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, await WebSocketStatusAsync(app, "/ws/chat/no.dots", cookie));
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await WebSocketStatusAsync(app, $"/ws/chat/{room}", cookie));
            Assert.Equal(HttpStatusCode.Unauthorized, await WebSocketStatusAsync(app, $"/ws/chat/{room}", cookie: null));
            Mark("room names checked");
        });
    }

    [BrowserFact]
    public async Task An_alert_sent_from_the_command_line_shows_on_the_dashboard()
    {
        var app = await energy.AppAsync();
        await using var page = await energy.LoginAsync("alice");
        await DiagnoseAsync(app, [page], async () =>
        {
            await page.WaitForAsync("document.getElementById('live').dataset.status === 'open'", Timeout);
            var text = $"hello {Guid.NewGuid():N}";
            var (code, said) = await app.RunCommandAsync("send", "--on", "alerts.test", text);
            Assert.True(code == 0, $"send exited {code}: {said}");
            await page.WaitForAsync($"[...document.querySelectorAll('#alerts li[data-alert-id]')].some(li => li.textContent.includes('{text}') && li.textContent.includes('alerts.test'))", Timeout);
            Assert.Equal(text, await page.EvaluateAsync<string>("document.querySelector('#alerts li[data-alert-id] .alert-text').textContent"));   // newest first

            // A page opened later gets it from the recent alerts, once.
            await using var later = await energy.LoginAsync("bob");
            await later.WaitForAsync($"[...document.querySelectorAll('#alerts li[data-alert-id]')].some(li => li.textContent.includes('{text}'))", Timeout);
            Assert.Equal(1, await later.EvaluateAsync<int>($"[...document.querySelectorAll('#alerts li[data-alert-id]')].filter(li => li.textContent.includes('{text}')).length"));
        });
    }

    [BrowserFact]
    public async Task Users_are_created_edited_and_deleted_in_the_users_page()
    {
        var app = await energy.AppAsync();
        var name = $"carol{Guid.NewGuid():N}"[..12];
        await using var admin = await energy.LoginAsync("alice", "/users");
        await DiagnoseAsync(app, [admin], async () =>
        {
            var row = $"document.querySelector('#users tr[data-user-name=\"{name}\"]')";
            await admin.WaitForAsync("document.querySelector('#users tr[data-user-name=\"alice\"]')", Timeout);
            await admin.Page.FillAsync("#create-user input[name=userName]", name);
            await admin.Page.FillAsync("#create-user input[name=displayName]", "Carol Created");
            await admin.Page.FillAsync("#create-user input[name=email]", $"{name}@example.com");
            await admin.Page.FillAsync("#create-user input[name=password]", "carol-pass");
            await admin.Page.ClickAsync("#create-user button[type=submit]");
            await admin.WaitForAsync($"{row}?.querySelector('.display-name')?.textContent === 'Carol Created'", Timeout);

            // A taken user name is refused with a message.
            await admin.Page.FillAsync("#create-user input[name=userName]", "bob");
            await admin.Page.FillAsync("#create-user input[name=displayName]", "Another Bob");
            await admin.Page.FillAsync("#create-user input[name=password]", "x");
            await admin.Page.ClickAsync("#create-user button[type=submit]");
            await admin.WaitForAsync("!document.getElementById('users-error').hidden && document.getElementById('users-error').textContent.includes('taken')", Timeout);

            // The new user can log in.
            await using var carol = await energy.LoginAsync(name, "/", "carol-pass");
            Assert.Equal("Carol Created", await carol.EvaluateAsync<string>("document.getElementById('me').textContent"));

            // Edit: the display name changes, the version goes up (a users.changed was sent), and Carol's next page has the new name.
            await admin.Page.ClickAsync($"#users tr[data-user-name=\"{name}\"] button[data-action=edit]");
            await admin.Page.FillAsync($"#users tr.editing input[name=displayName]", "Carol Renamed");
            await admin.Page.ClickAsync("#users tr.editing button[data-action=save]");
            await admin.WaitForAsync($"{row}?.querySelector('.display-name')?.textContent === 'Carol Renamed' && {row}.querySelector('td.num')?.textContent === '2'", Timeout);
            await carol.Page.ReloadAsync();
            Assert.Equal("Carol Renamed", await carol.EvaluateAsync<string>("document.getElementById('me').textContent"));

            // Delete (two clicks, no dialog): gone from the list, and Carol's session ends.
            await admin.Page.ClickAsync($"#users tr[data-user-name=\"{name}\"] button[data-action=delete]");
            await admin.Page.ClickAsync($"#users tr[data-user-name=\"{name}\"] button[data-action=delete]");
            await admin.WaitForAsync($"!{row}", Timeout);
            await carol.Page.ReloadAsync();
            Assert.Equal("/login", new Uri(carol.Page.Url).AbsolutePath);
        });
    }

    private static async Task<(string Text, DateTimeOffset Now)> ClockAsync(BrowserPage page)
    {
        var clock = await page.EvaluateAsync<string[]>("[document.getElementById('clock').textContent, document.getElementById('clock').dataset.now]");
        return (clock[0], DateTimeOffset.Parse(clock[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The HTTP status of a WebSocket upgrade to <paramref name="path"/> (101 when accepted).</summary>
    private static async Task<HttpStatusCode> WebSocketStatusAsync(EnergyAppProcess app, string path, string? cookie)
    {
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (cookie is not null) socket.Options.SetRequestHeader("Cookie", cookie);
        try
        {
            await socket.ConnectAsync(new Uri($"ws://{new Uri(app.Url).Authority}{path}"), CancellationToken.None);
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
            // refused: the status says how
        }
        return socket.HttpStatusCode;
    }

    private static async Task SendChatAsync(BrowserPage page, string text)
    {
        await page.Page.FillAsync("#text", text);
        await page.Page.PressAsync("#text", "Enter");
    }

    private static string MessageShown(string sender, string text) =>
        $"[...document.querySelectorAll('#messages li[data-offset]')].some(li => li.querySelector('.sender').textContent === {JsonSerializer.Serialize(sender)} && li.querySelector('.message-text').textContent === {JsonSerializer.Serialize(text)})";

    /// <summary>Runs a test's steps; on failure writes the pages' logs, a screenshot of each and the app's last output.</summary>
    private async Task DiagnoseAsync(EnergyAppProcess app, BrowserPage[] pages, Func<Task> steps)
    {
        try
        {
            await steps();
        }
        catch
        {
            foreach (var page in pages)
            {
                var screenshot = Path.Combine(Path.GetTempPath(), $"cleanenergy-e2e-{Guid.NewGuid():N}.png");
                try
                {
                    await page.ScreenshotAsync(screenshot);
                    output.WriteLine($"Page {page.Page.Url}: screenshot {screenshot}\n  {string.Join("\n  ", page.Log.TakeLast(40))}");
                }
                catch (Exception e)
                {
                    output.WriteLine($"Page {page.Page.Url}: no screenshot ({e.Message})");
                }
            }
            output.WriteLine($"App output (last lines):\n{string.Join('\n', app.Output.Split('\n').TakeLast(80))}");
            throw;
        }
    }
}
