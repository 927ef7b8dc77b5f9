using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Celeriac.Testing.Browser;
using Celeriac.Transport.Tests;
using Xunit.Abstractions;

namespace CleanEnergy.EndToEndTests;

/// <summary>The scale-out flow (<see cref="ScaleOutTests"/>) with Celeriac on a private <c>redis-server</c>, as on many machines.</summary>
[Collection(EnergyCollection.Name)]   // one at a time with the one-command tests, sharing their Chromium
public sealed class ScaleOutOverRedisTests(EnergyFixture energy, ITestOutputHelper output) : ScaleOutTests(energy, output)
{
    protected override async Task<CeleriacStore> StartStoreAsync(DirectoryInfo directory)
    {
        var redis = new RedisServer();
        try
        {
            await redis.InitializeAsync();
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
        // Every app: the same Redis and a key prefix of this run's own.
        var prefix = redis.NewPrefix();
        return new CeleriacStore($"redis-server on {redis.Configuration}, key prefix {prefix}", ["--redis", redis.Configuration],
            new Dictionary<string, string> { ["Celeriac__Redis__KeyPrefix"] = prefix }, redis.DisposeAsync);
    }
}

/// <summary>
/// The scale-out flow (<see cref="ScaleOutTests"/>) with no server: every process of both apps on one Celeriac SQLite
/// file (<c>--Celeriac:Sqlite:Path=…</c>, outside the master's data directory), one machine.
/// </summary>
[Collection(EnergyCollection.Name)]
public sealed class ScaleOutOnSqliteTests(EnergyFixture energy, ITestOutputHelper output) : ScaleOutTests(energy, output)
{
    protected override Task<CeleriacStore> StartStoreAsync(DirectoryInfo directory)
    {
        var file = Path.Combine(directory.FullName, "celeriac", "celeriac.db");
        return Task.FromResult(new CeleriacStore($"SQLite file {file}", [$"--Celeriac:Sqlite:Path={file}"],
            new Dictionary<string, string>(), () => Task.CompletedTask));
    }
}

/// <summary>
/// Scale-out: the reference application's flow with every role in its own process, as on many machines (here one
/// machine, loopback ports), on the Celeriac store of the subclass (<see cref="StartStoreAsync"/>: Redis or one SQLite file):
/// <list type="bullet">
/// <item><c>vendor</c>: the simulator, <c>samples/CleanEnergy.VendorCloud</c>, on its own;</item>
/// <item>the master, <c>samples/CleanEnergy</c>, as three processes: <c>web</c>, <c>worker</c> and <c>beat</c>, on the
/// store, the app's own database one SQLite file in one data directory shared by the three (one machine);</item>
/// <item><c>replica</c>: <c>samples/CleanEnergy.Replica</c> (web + worker, no beat) on the same store, its own database.</item>
/// </list>
/// In headless Chromium: alice logs in on the master's web process; the dashboard's clock moves (beat sends
/// <c>clock.tick</c>, the worker runs it and sends to the <c>time</c> group, the web process delivers it: the store's queue
/// and channel layer); the simulator's grid goes dirty, then clean, and every device on the page follows (worker: decide,
/// switch, poll; group <c>dashboard</c>); alice is renamed on the master and her open <c>/me</c> page on the replica shows
/// the new name (master web → task → master worker → <c>users.changed</c> on the store → the replica's durable
/// subscription → group <c>user.{id}</c>). Every live update is checked to come over the page's socket, with no reload
/// and no reconnect.
/// </summary>
public abstract partial class ScaleOutTests(EnergyFixture energy, ITestOutputHelper output)
{
    /// <summary>
    /// Where every Celeriac process of both apps meets: what to log, the command-line arguments and environment variables
    /// each process gets, and how to stop the store after the processes.
    /// </summary>
    protected sealed record CeleriacStore(string Description, string[] Arguments, IReadOnlyDictionary<string, string> Environment, Func<Task> StopAsync);

    /// <summary>Starts the store of this run; <paramref name="directory"/> is the run's temp directory.</summary>
    protected abstract Task<CeleriacStore> StartStoreAsync(DirectoryInfo directory);

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Per flip: grid.refresh every 2 s, devices.decide_all every 5 s, then each device's switch and state push.</summary>
    private static readonly TimeSpan FlipTimeout = TimeSpan.FromSeconds(40);

    private const string DeviceRows = "document.querySelectorAll('#devices tbody tr[data-device-id]')";

    [BrowserFact]
    public async Task Web_worker_beat_and_replica_as_separate_processes_run_the_whole_flow()
    {
        var clock = Stopwatch.StartNew();
        void Mark(string step) => output.WriteLine($"{clock.Elapsed.TotalSeconds,7:0.000} s  {step}");
        var directory = Directory.CreateTempSubdirectory("cleanenergy-scaleout-");
        CeleriacStore? store = null;
        var processes = new List<ChildProcess>();
        var pages = new List<BrowserPage>();
        try
        {
            var browser = energy.BrowserAsync();
            var vendor = Start(processes, clock, "vendor", "CleanEnergy.VendorCloud", binDirectory: true, ["--urls", "http://127.0.0.1:0"], new Dictionary<string, string>());
            store = await StartStoreAsync(directory);
            Mark(store.Description);
            // Every Celeriac process of both apps: the store's arguments and environment.
            var celeriac = store.Environment;
            var onStore = store.Arguments;

            // The replica first, so its durable subscription exists before the master seeds its users.
            var replica = Start(processes, clock, "replica", "CleanEnergy.Replica", binDirectory: true,
                ["all", .. onStore, "--urls", "http://127.0.0.1:0", $"--ConnectionStrings:Replica=Data Source={Path.Combine(directory.FullName, "replica", "replica.db")}"],
                celeriac);
            var vendorUrl = (await vendor.WaitForLineAsync(VendorAt(), StartTimeout)).Groups["url"].Value;
            Mark($"vendor simulator listening on {vendorUrl}");
            await replica.WaitForLineAsync(SubscriptionSaved(), StartTimeout);
            Mark("replica: durable subscription 'replica' saved in the store");

            // The master: the app's database is shared by its three processes (one data directory: energy.db and the
            // cookie keys); Celeriac's queue, schedules, events and channel layer are the store.
            var master = new Dictionary<string, string>(celeriac)
            {
                ["Energy__DataDirectory"] = Path.Combine(directory.FullName, "master"),
                ["Vendor__BaseUrl"] = vendorUrl,
            };
            var web = Start(processes, clock, "web", "CleanEnergy", binDirectory: false, ["web", .. onStore, "--urls", "http://127.0.0.1:0"], master);
            var beat = Start(processes, clock, "beat", "CleanEnergy", binDirectory: false, ["beat", .. onStore], master);
            // Together with web: both seed the demo users in one fresh database; the one that loses the race goes on.
            var worker = Start(processes, clock, "worker", "CleanEnergy", binDirectory: false, ["worker", .. onStore], master);
            var masterUrl = (await web.WaitForLineAsync(RunningAt(), StartTimeout)).Groups["url"].Value.TrimEnd('/');
            Mark($"master web listening on {masterUrl}");
            await beat.WaitForLineAsync(BeatLeads(), StartTimeout);
            Mark("master beat leads the schedules");
            await worker.WaitForLineAsync(WorkerStarted(), StartTimeout);
            Mark("master worker consuming");
            var replicaUrl = (await replica.WaitForLineAsync(RunningAt(), StartTimeout)).Groups["url"].Value.TrimEnd('/');
            Assert.True(web.Printed("Celeriac starting: web only"), "The master's web process runs tasks or beat itself.");
            Assert.True(replica.Printed("Celeriac starting: web + worker (beat disabled)"), "The replica runs beat on the master's store.");
            Assert.False(replica.Printed("Beat started"), "The replica runs beat on the master's store.");

            using var replicaHttp = new HttpClient { BaseAddress = new Uri(replicaUrl), Timeout = TimeSpan.FromSeconds(10) };
            var aliceId = await WaitForReplicatedAsync(replicaHttp, "alice");
            Mark($"alice (master id {aliceId}) replicated to the replica at {replicaUrl}");
            await browser;

            // alice: the master's dashboard (served by web) and her profile on the replica, opened at once.
            var dashboardOpening = LoginOnMasterAsync(masterUrl, "alice", "/");
            var profileOpening = OpenProfileAsync(replicaUrl, "alice", aliceId);
            await Task.WhenAll(dashboardOpening.ContinueWith(_ => { }, TaskScheduler.Default), profileOpening.ContinueWith(_ => { }, TaskScheduler.Default));
            if (dashboardOpening.IsCompletedSuccessfully) pages.Add(dashboardOpening.Result);
            if (profileOpening.IsCompletedSuccessfully) pages.Add(profileOpening.Result);
            var dashboard = await dashboardOpening;
            var profile = await profileOpening;
            Mark("alice's dashboard (master web) and /me (replica) open, sockets joined");

            // From here on, count what the dashboard's socket delivers, and any reconnect (which would reload from HTTP).
            await dashboard.WaitForAsync("document.getElementById('live').dataset.status === 'open' && document.getElementById('clock').dataset.now", Timeout);
            await dashboard.EvaluateAsync("""
                (() => {
                  window.sameDocument = true;
                  window.seen = { opens: 0, types: {}, states: { on: {}, off: {} } };
                  const options = dashboard.socket.options, onMessage = options.onMessage, onOpen = options.onOpen;
                  options.onOpen = (...args) => { seen.opens++; return onOpen(...args); };
                  options.onMessage = (m, meta) => {
                    if (meta && m && m.type) {
                      seen.types[m.type] = (seen.types[m.type] || 0) + 1;
                      if (m.type === 'device.state') seen.states[m.on ? 'on' : 'off'][m.deviceId] = true;
                    }
                    return onMessage(m, meta);
                  };
                })()
                """);

            // 1. The clock: beat → clock.tick on the store's queue → worker → group "time" over its channel layer → web → page.
            var first = await dashboard.EvaluateAsync<string>("document.getElementById('clock').dataset.now");
            await dashboard.WaitForAsync("(seen.types['clock.tick'] || 0) >= 3", TimeSpan.FromSeconds(10));
            var later = await dashboard.EvaluateAsync<string>("document.getElementById('clock').dataset.now");
            Assert.True(DateTimeOffset.Parse(later, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.Parse(first, System.Globalization.CultureInfo.InvariantCulture),
                $"The clock did not move: {first} then {later}.");
            Mark($"the dashboard's clock ticks over the socket ({first} → {later})");
            await dashboard.WaitForAsync("(seen.types['grid.intensity'] || 0) >= 1", Timeout);
            Mark("a grid point reached the chart over the socket");

            // 2. The grid, flipped at the simulator: the worker decides, switches and polls; the page follows.
            using var vendorHttp = new HttpClient { BaseAddress = new Uri(vendorUrl), Timeout = TimeSpan.FromSeconds(10) };
            await dashboard.WaitForAsync($"{DeviceRows}.length === 6", Timeout);
            foreach (var (mode, state) in new[] { ("dirty", "off"), ("clean", "on") })
            {
                await dashboard.EvaluateAsync("seen.states = { on: {}, off: {} }");
                var flipped = Stopwatch.StartNew();
                (await vendorHttp.PutAsJsonAsync("admin/grid", new { mode })).EnsureSuccessStatusCode();
                await dashboard.WaitForAsync($"[...{DeviceRows}].every(tr => tr.dataset.state === '{state}')", FlipTimeout);
                await dashboard.WaitForAsync($"document.getElementById('grid-level').textContent === '{mode}'", Timeout);
                Assert.Equal(state == "on" ? "6" : "0", await dashboard.EvaluateAsync<string>("document.getElementById('devices-on').textContent"));
                // Each device's new state comes as a device.state message of the group (not from a reload of /api/devices).
                // A device already in that state before the flip is not switched: its message is the next poll's, which
                // may come after every row already shows the state, so wait for it rather than read the count once.
                await dashboard.WaitForAsync($"Object.keys(seen.states.{state}).length === 6", FlipTimeout);
                Mark($"grid {mode}: every device {state} on the page, {flipped.Elapsed.TotalSeconds:0.0} s after the flip");
            }

            // 3. Rename alice on the master (as bob, in the master's users page); her replica page shows it without a reload.
            await profile.EvaluateAsync("window.sameDocument = true");
            var newName = $"Alice Scaled {Random.Shared.Next(1000, 9999)}";
            var admin = await LoginOnMasterAsync(masterUrl, "bob", "/users");
            pages.Add(admin);
            var row = "#users tr[data-user-name='alice']";
            await admin.WaitForAsync($"document.querySelector(\"{row}\")", Timeout);
            await admin.Page.ClickAsync($"{row} [data-action=edit]");
            await admin.Page.FillAsync($"{row}.editing input[name=displayName]", newName);
            var renamed = Stopwatch.StartNew();
            await admin.Page.ClickAsync($"{row}.editing [data-action=save]");
            await admin.WaitForAsync($"document.querySelector(\"{row} td.display-name\")?.textContent === {JsonSerializer.Serialize(newName)}", Timeout);
            await profile.WaitForAsync($"document.getElementById('display-name').textContent === {JsonSerializer.Serialize(newName)}", Timeout);
            Mark($"alice renamed on the master; her replica page showed it {renamed.ElapsedMilliseconds} ms after the save");
            Assert.Equal(newName, await profile.EvaluateAsync<string>("profile.changes.at(-1).displayName"));
            Assert.True(await profile.EvaluateAsync<bool>("window.sameDocument === true"), "alice's replica page was reloaded.");

            // Nothing came the other way: one document, one connection, every update over the group.
            Assert.True(await dashboard.EvaluateAsync<bool>("window.sameDocument === true"), "The dashboard was reloaded.");
            Assert.Equal(0, await dashboard.EvaluateAsync<int>("seen.opens"));
            foreach (var page in pages)
                Assert.DoesNotContain(page.Log, line => line.StartsWith("uncaught", StringComparison.Ordinal));
            foreach (var process in processes)
                Assert.False(process.HasExited, $"{process.Name} exited during the test. Output:\n{process.Output(60)}");
            output.WriteLine($"seen on the dashboard's socket: {await dashboard.EvaluateAsync<string>("JSON.stringify(seen.types)")}");
            Mark("done");
        }
        catch
        {
            foreach (var page in pages)
            {
                try
                {
                    output.WriteLine($"--- page {page.Page.Url}:\n  {string.Join("\n  ", page.Log.TakeLast(40))}");
                }
                catch (Exception e) when (e is Microsoft.Playwright.PlaywrightException or InvalidOperationException)
                {
                    output.WriteLine($"--- page: {e.Message}");
                }
            }
            foreach (var process in processes)
                output.WriteLine($"--- {process.Name} (last lines; seconds since the test started):\n{process.Output(120)}");
            throw;
        }
        finally
        {
            foreach (var page in pages)
            {
                try { await page.DisposeAsync(); }
                catch (Microsoft.Playwright.PlaywrightException) { }
            }
            await Task.WhenAll(processes.Select(p => p.DisposeAsync().AsTask()));
            if (store is not null) await store.StopAsync();
            try { directory.Delete(recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            Mark("every process stopped");
        }
    }

    /// <summary>
    /// Starts a sample's build output: in its build directory (<paramref name="binDirectory"/>), or in its project
    /// directory as <c>dotnet run</c> does (the master: its wwwroot and appsettings.json are read from there).
    /// </summary>
    private static ChildProcess Start(List<ChildProcess> processes, Stopwatch clock, string name, string project, bool binDirectory,
        string[] arguments, IReadOnlyDictionary<string, string> environment)
    {
        var dll = ChildProcess.SampleDll(project);
        var workingDirectory = binDirectory ? Path.GetDirectoryName(dll)! : Path.Combine(EnergyAppProcess.RepositoryRoot, "samples", project);
        var process = ChildProcess.Start(name, dll, workingDirectory, arguments, environment, clock);
        processes.Add(process);
        return process;
    }

    /// <summary>Logs in on the master's web process and waits until <paramref name="path"/> is back.</summary>
    private async Task<BrowserPage> LoginOnMasterAsync(string masterUrl, string userName, string path)
    {
        var browser = await energy.BrowserAsync();
        var page = await browser.NewPageAsync($"{masterUrl}{path}");
        try
        {
            await page.Page.SetViewportSizeAsync(1360, 900);
            Assert.Equal("/login", new Uri(page.Page.Url).AbsolutePath);
            await page.Page.FillAsync("#userName", userName);
            await page.Page.FillAsync("#password", "demo");
            await page.Page.ClickAsync("#login-form button[type=submit]");
            await page.WaitForUrlAsync(url => url.PathAndQuery == path, Timeout);
            return page;
        }
        catch
        {
            output.WriteLine($"{userName}'s master page {page.Page.Url}:\n  {string.Join("\n  ", page.Log)}");
            await page.DisposeAsync();
            throw;
        }
    }

    /// <summary>Logs in on the replica and waits until /me shows the user and the personal group is joined.</summary>
    private async Task<BrowserPage> OpenProfileAsync(string replicaUrl, string userName, int userId)
    {
        var browser = await energy.BrowserAsync();
        var page = await browser.NewPageAsync($"{replicaUrl}/login");
        try
        {
            await page.Page.FillAsync("#userName", userName);
            await page.Page.FillAsync("#password", "demo");
            await page.Page.ClickAsync("#login");
            await page.WaitForUrlAsync(url => url.AbsoluteUri == $"{replicaUrl}/me", Timeout);
            await page.WaitForAsync($"document.getElementById('user-name').textContent === {JsonSerializer.Serialize(userName)} && socket.offsets['user.{userId}'] !== undefined", Timeout);
            return page;
        }
        catch
        {
            output.WriteLine($"{userName}'s replica page {page.Page.Url}:\n  {string.Join("\n  ", page.Log)}");
            await page.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until the replica lists <paramref name="userName"/> and returns the user's (master) id.</summary>
    private static async Task<int> WaitForReplicatedAsync(HttpClient replica, string userName)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var users = await replica.GetFromJsonAsync<List<ReplicatedUser>>("/api/users") ?? [];
            if (users.FirstOrDefault(u => u.UserName == userName) is { } user) return user.Id;
            if (deadline.Elapsed > Timeout) throw new TimeoutException($"{userName} did not reach the replica within {Timeout.TotalSeconds:0} s: {JsonSerializer.Serialize(users)}");
            await Task.Delay(100);
        }
    }

    private sealed record ReplicatedUser(int Id, string UserName);

    [GeneratedRegex(@"Vendor cloud on (?<url>http://[^\s:]+:\d+)")]
    private static partial Regex VendorAt();

    [GeneratedRegex(@"is running at (?<url>http://\S+)")]
    private static partial Regex RunningAt();

    [GeneratedRegex(@"Saved 1 durable subscription\(s\): replica \(users\.changed\)")]
    private static partial Regex SubscriptionSaved();

    [GeneratedRegex(@"Beat: this process leads")]
    private static partial Regex BeatLeads();

    [GeneratedRegex(@"Celeriac worker started \(worker only")]
    private static partial Regex WorkerStarted();
}
