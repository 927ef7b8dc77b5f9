using Celeriac.Testing.Browser;
using Xunit.Abstractions;

namespace CleanEnergy.EndToEndTests;

/// <summary>Celeriac's operations dashboard at <c>/celeriac</c> in the reference app, in headless Chromium.</summary>
[Collection(EnergyCollection.Name)]
public sealed class OperationsDashboardBrowserTests(EnergyFixture energy, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = EnergyFixture.Timeout;

    [BrowserFact]
    public async Task Bob_is_refused_and_alice_sees_the_overview_and_the_workers_update_live()
    {
        var app = await energy.AppAsync();
        await using (var bob = await energy.LoginAsync("bob"))
        {
            // With bob's login cookie: the page and its API are forbidden (bob has no ops role).
            var pageResponse = await bob.Page.Context.APIRequest.GetAsync($"{app.Url}/celeriac/");
            var apiResponse = await bob.Page.Context.APIRequest.GetAsync($"{app.Url}/celeriac/api/snapshot");
            output.WriteLine($"bob: page {pageResponse.Status}, api {apiResponse.Status}");
            Assert.Equal(403, pageResponse.Status);
            Assert.Equal(403, apiResponse.Status);
        }

        await using var alice = await energy.LoginAsync("alice", "/celeriac/");
        var page = alice.Page;
        // The page's Content-Security-Policy forbids eval, so the waits are functions (Playwright's own evaluation).
        // Live: the socket is open and snapshots keep coming (one a second, from the process's one sampler).
        await page.WaitForFunctionAsync("() => document.getElementById('live').dataset.status === 'open'", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        await page.WaitForFunctionAsync("() => window.celeriacDashboard.snapshots >= 1", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        var seen = await page.EvaluateAsync<int>("() => window.celeriacDashboard.snapshots");
        await page.WaitForFunctionAsync($"() => window.celeriacDashboard.snapshots >= {seen + 2}", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        // The app's schedules run tasks all the time: the hour's chart counts succeeded tasks.
        await page.WaitForFunctionAsync("() => Number(document.getElementById('chart')?.dataset.succeeded || 0) > 0", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        await Screenshot(page, "overview");

        await page.EvaluateAsync("() => { location.hash = '#workers'; }");
        await page.WaitForFunctionAsync("() => document.getElementById('page-workers') && document.body.innerText.includes('worker')", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        await Screenshot(page, "workers");
        await page.EvaluateAsync("() => { location.hash = '#schedules'; }");
        await page.WaitForFunctionAsync("() => document.body.innerText.includes('grid.refresh')", null, new() { Timeout = (float)Timeout.TotalMilliseconds });
        await Screenshot(page, "schedules");
    }

    private async Task Screenshot(Microsoft.Playwright.IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable(EndToEndTests.ScreenshotVariable) is not { Length: > 0 } directory) return;
        var path = Path.GetFullPath(Path.Combine(directory, $"celeriac-{name}.png"), EnergyAppProcess.RepositoryRoot);
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
    }
}
