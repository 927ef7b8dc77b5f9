using Xunit;

namespace Celeriac.Testing.Browser;

/// <summary>
/// One <see cref="Chromium"/> shared by the tests of a class (<c>IClassFixture&lt;ChromiumFixture&gt;</c>) or a
/// collection. The browser starts on the first <see cref="GetAsync"/>, so a class whose tests are all skipped
/// (<see cref="BrowserFactAttribute"/>) never looks for it.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    private readonly Lazy<Task<Chromium>> _browser = new(() => Chromium.StartAsync());

    /// <summary>The shared browser, started on first use.</summary>
    public Task<Chromium> GetAsync() => _browser.Value;

    /// <summary>Opens <paramref name="url"/> in a new page of the shared browser.</summary>
    public async Task<BrowserPage> NewPageAsync(string url) => await (await GetAsync()).NewPageAsync(url);

    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (_browser.IsValueCreated && _browser.Value.IsCompletedSuccessfully) await _browser.Value.Result.DisposeAsync();
    }
}
