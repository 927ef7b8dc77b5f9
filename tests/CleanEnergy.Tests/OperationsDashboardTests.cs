using System.Net;
using System.Text.Json;

namespace CleanEnergy.Tests;

/// <summary>Celeriac's operations dashboard at /celeriac: the ops role only (alice), with the app's real services.</summary>
public sealed class OperationsDashboardTests
{
    [Fact]
    public async Task Alice_has_the_ops_role_and_sees_the_live_workers_bob_and_anonymous_users_are_refused()
    {
        await using var app = await EnergyWebApp.StartAsync();

        using (var anonymous = app.Client())
        using (var refused = await anonymous.GetAsync("/celeriac/api/snapshot"))
            Assert.True(refused.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Redirect, $"anonymous: {(int)refused.StatusCode}");

        using (var bob = app.Client())
        {
            await EnergyWebApp.LoginAsync(bob, "bob");
            using var forbidden = await bob.GetAsync("/celeriac/api/snapshot");
            Assert.True(forbidden.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Redirect, $"bob: {(int)forbidden.StatusCode}");
            using var page = await bob.GetAsync("/celeriac/");
            Assert.NotEqual(HttpStatusCode.OK, page.StatusCode);
        }

        using var alice = app.Client();
        await EnergyWebApp.LoginAsync(alice);
        using (var page = await alice.GetAsync("/celeriac/"))
        {
            Assert.True(page.StatusCode == HttpStatusCode.OK, $"{(int)page.StatusCode}: {await page.Content.ReadAsStringAsync()}");
            Assert.Contains("<html", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
        // This process runs the worker and beat (`all`): its heartbeat appears in the workers list.
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(200))
        {
            using var workers = await alice.GetAsync("/celeriac/api/workers");
            Assert.Equal(HttpStatusCode.OK, workers.StatusCode);
            var body = await workers.Content.ReadAsStringAsync();
            if (body.Contains("\"worker\"", StringComparison.Ordinal)) break;
            Assert.True(DateTime.UtcNow < deadline, "No live worker on the dashboard: " + body);
        }
        // A POST without the antiforgery token is refused.
        using var post = await alice.PostAsync("/celeriac/api/dead-letters/requeue", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
    }
}
