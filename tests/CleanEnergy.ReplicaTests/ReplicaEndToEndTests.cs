using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Celeriac.Testing.Browser;
using Xunit.Abstractions;

namespace CleanEnergy.ReplicaTests;

/// <summary>
/// User replication end to end, as a user sees it: the master app (samples/CleanEnergy, one-command mode) and the replica
/// app as child processes sharing one Celeriac SQLite file in a temp directory, each with its own database. In headless
/// Chromium, alice and bob open their profile pages on the replica; alice is renamed in the master's users page; alice's
/// open replica page shows the new name within seconds without a reload, and bob's page cannot join alice's group.
/// </summary>
public sealed partial class ReplicaEndToEndTests(ChromiumFixture chromium, ITestOutputHelper output) : IClassFixture<ChromiumFixture>, IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("replica-e2e-");

    [BrowserFact]
    public async Task Renaming_a_user_on_the_master_updates_that_users_open_replica_page_and_nobody_else_may_join_it()
    {
        var clock = Stopwatch.StartNew();
        void Mark(string step) => output.WriteLine($"{clock.ElapsedMilliseconds,6} ms  {step}");
        var masterData = Path.Combine(_directory.FullName, "master");
        var store = Path.Combine(masterData, "celeriac.db");

        var browser = chromium.GetAsync();   // Chromium starts meanwhile

        // The replica first: starting, it saves its durable subscription in the (new) shared store, so the master's
        // first events (the seeding of alice and bob) are queued for it.
        await using var replica = AppProcess.Start("replica", AppProcess.BuiltDll("samples/CleanEnergy.Replica", "CleanEnergy.Replica"),
        [
            "--urls", "http://127.0.0.1:0",
            $"--Celeriac:Sqlite:Path={store}",
            $"--ConnectionStrings:Replica=Data Source={Path.Combine(_directory.FullName, "replica", "replica.db")}",
        ]);
        await replica.WaitForLineAsync(SubscriptionSaved(), StartTimeout);
        Mark("replica: durable subscription saved");

        await using var master = AppProcess.Start("master", AppProcess.BuiltDll("samples/CleanEnergy", "CleanEnergy"),
        [
            "--urls", "http://127.0.0.1:0",
            $"--Energy:DataDirectory={masterData}",
        ]);
        var replicaUrl = (await replica.WaitForLineAsync(RunningAt(), StartTimeout)).Groups["url"].Value.TrimEnd('/');
        Mark($"replica listening on {replicaUrl}");
        var masterUrl = (await master.WaitForLineAsync(RunningAt(), StartTimeout)).Groups["url"].Value.TrimEnd('/');
        Assert.True(File.Exists(store), $"The master does not use Energy:DataDirectory ({store} is missing): the two apps would not share the store.");
        Mark($"master listening on {masterUrl}");
        await browser;

        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(replicaUrl), Timeout = TimeSpan.FromSeconds(30) };
            var users = await WaitForReplicatedAsync(http, u => u.Any(x => x.UserName == "alice") && u.Any(x => x.UserName == "bob"));
            var aliceId = users.Single(u => u.UserName == "alice").Id;
            var bobId = users.Single(u => u.UserName == "bob").Id;
            Mark($"the seeded users reached the replica: alice {aliceId}, bob {bobId}");

            var opening = new[] { OpenProfileAsync(replicaUrl, "alice", aliceId, "Alice Demo"), OpenProfileAsync(replicaUrl, "bob", bobId, "Bob Demo") };
            await Task.WhenAll(opening.Select(o => o.ContinueWith(_ => { }, TaskScheduler.Default)));
            await using var alice = await opening[0];
            await using var bob = await opening[1];
            await alice.EvaluateAsync("window.sameDocument = true");
            Mark("alice's and bob's profile pages open on the replica, each in its own group");

            // Rename alice in the master's users page (as bob: any logged-in user may edit users there).
            var newName = $"Alice Renamed {Random.Shared.Next(1000, 9999)}";
            await using var admin = await chromium.NewPageAsync(masterUrl + "/login?returnUrl=/users");
            await admin.Page.FillAsync("#userName", "bob");
            await admin.Page.FillAsync("#password", "demo");
            await admin.Page.ClickAsync("#login-form button[type=submit]");
            var row = $"#users tr[data-user-name='alice']";
            await admin.Page.ClickAsync($"{row} [data-action=edit]");
            await admin.Page.FillAsync($"{row}.editing input[name=displayName]", newName);
            var renamed = Stopwatch.StartNew();
            await admin.Page.ClickAsync($"{row}.editing [data-action=save]");
            await admin.WaitForAsync($"document.querySelector(\"{row} td.display-name\")?.textContent === {JsonSerializer.Serialize(newName)}", Timeout);
            Mark("alice renamed in the master's users page");

            await alice.WaitForAsync($"document.getElementById('display-name').textContent === {JsonSerializer.Serialize(newName)}", TimeSpan.FromSeconds(10));
            Mark($"alice's replica page shows the new name {renamed.ElapsedMilliseconds} ms after the save");
            Assert.True(await alice.EvaluateAsync<bool>("window.sameDocument === true"), "alice's page was reloaded");
            Assert.Equal(2, await alice.EvaluateAsync<long>("profile.changes.at(-1).version"));
            Assert.Equal(newName, (await GetUsersAsync(http)).Single(u => u.Id == aliceId).DisplayName);

            // Bob's page: it did not get alice's change, and it may not join alice's group.
            Assert.Equal(0, await bob.EvaluateAsync<int>("profile.changes.length"));
            Assert.Equal("Bob Demo", await bob.EvaluateAsync<string>("document.getElementById('display-name').textContent"));
            await bob.EvaluateAsync($"socket.join('user.{aliceId}')");
            await bob.WaitForAsync($"profile.refused.includes('user.{aliceId}')", Timeout);
            Assert.DoesNotContain($"user.{aliceId}", await bob.EvaluateAsync<string[]>("Object.keys(socket.offsets)"));
            Assert.Contains("Not allowed to join", await bob.EvaluateAsync<string>("document.getElementById('notice').textContent"), StringComparison.Ordinal);
            Mark("bob's page was refused alice's group");

            Assert.DoesNotContain(alice.Log.Concat(bob.Log), line => line.StartsWith("uncaught", StringComparison.Ordinal));
        }
        catch
        {
            output.WriteLine($"--- replica output:\n{replica.Output(80)}\n--- master output:\n{master.Output(80)}");
            throw;
        }
    }

    /// <summary>Logs <paramref name="userName"/> in on the replica and waits until /me shows them and its group is joined.</summary>
    private async Task<BrowserPage> OpenProfileAsync(string replicaUrl, string userName, int userId, string displayName)
    {
        var page = await chromium.NewPageAsync(replicaUrl + "/login");
        try
        {
            await page.Page.FillAsync("#userName", userName);
            await page.Page.FillAsync("#password", "demo");
            await page.Page.ClickAsync("#login");
            await page.WaitForUrlAsync(url => url.AbsoluteUri == replicaUrl + "/me", Timeout);
            // Joined: the server's `joined` frame set the group's offset, so what is sent from now on reaches the page.
            await page.WaitForAsync($"document.getElementById('display-name').textContent === {JsonSerializer.Serialize(displayName)} && socket.offsets['user.{userId}'] !== undefined", Timeout);
            return page;
        }
        catch
        {
            output.WriteLine($"{userName}'s page log:\n  {string.Join("\n  ", page.Log)}");
            await page.DisposeAsync();
            throw;
        }
    }

    private static async Task<List<ReplicatedUser>> WaitForReplicatedAsync(HttpClient http, Func<List<ReplicatedUser>, bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var users = await GetUsersAsync(http);
            if (condition(users)) return users;
            if (deadline.Elapsed > Timeout) throw new TimeoutException($"The replica's users did not get there: {JsonSerializer.Serialize(users)}");
            await Task.Delay(100);
        }
    }

    private static async Task<List<ReplicatedUser>> GetUsersAsync(HttpClient http) =>
        await http.GetFromJsonAsync<List<ReplicatedUser>>("/api/users") ?? [];

    private sealed record ReplicatedUser(int Id, string UserName, string DisplayName, long Version);

    [GeneratedRegex(@"is running at (?<url>http://\S+)")]
    private static partial Regex RunningAt();

    [GeneratedRegex(@"Saved 1 durable subscription\(s\): replica \(users\.changed\)")]
    private static partial Regex SubscriptionSaved();

    public void Dispose()
    {
        try { _directory.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
