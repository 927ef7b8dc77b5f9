using Celeriac.Testing.Browser;

namespace CleanEnergy.EndToEndTests;

/// <summary>The tests of this project share one app process and one Chromium, and run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class EnergyCollection : ICollectionFixture<EnergyFixture>
{
    public const string Name = "cleanenergy";
}

/// <summary>
/// One CleanEnergy process (<see cref="EnergyAppProcess"/>) and one headless Chromium for the collection, each started on
/// first use (so skipped tests start nothing), stopped at the end.
/// </summary>
public sealed class EnergyFixture : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly Lazy<Task<EnergyAppProcess>> _app = new(EnergyAppProcess.StartAsync);
    private readonly Lazy<Task<Chromium>> _browser = new(() => Chromium.StartAsync());

    public Task<EnergyAppProcess> AppAsync() => _app.Value;

    public Task<Chromium> BrowserAsync() => _browser.Value;

    /// <summary>
    /// Opens <paramref name="path"/> as <paramref name="userName"/> in a fresh browser context: the app redirects to its
    /// login page, the test fills the form in as a person would, and waits until the page it asked for is back.
    /// </summary>
    public async Task<BrowserPage> LoginAsync(string userName, string path = "/", string password = "demo")
    {
        var app = await AppAsync();
        var browser = await BrowserAsync();
        var page = await browser.NewPageAsync($"{app.Url}{path}");
        try
        {
            await page.Page.SetViewportSizeAsync(1360, 900);
            if (!page.Page.Url.Contains("/login", StringComparison.Ordinal))
                throw new InvalidOperationException($"Expected the login page, got {page.Page.Url}.");
            await page.Page.FillAsync("#userName", userName);
            await page.Page.FillAsync("#password", password);
            await page.Page.ClickAsync("#login-form button[type=submit]");
            await page.WaitForUrlAsync(url => url.PathAndQuery == path, Timeout);
            return page;
        }
        catch
        {
            await page.DisposeAsync();
            throw;
        }
    }

    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (_browser.IsValueCreated && _browser.Value.IsCompletedSuccessfully) await _browser.Value.Result.DisposeAsync();
        if (_app.IsValueCreated && _app.Value.IsCompletedSuccessfully) await _app.Value.Result.DisposeAsync();
    }
}
