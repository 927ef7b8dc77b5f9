using Microsoft.Playwright;

namespace Celeriac.Testing.Browser;

/// <summary>
/// A headless Chromium for end-to-end tests: the machine's own browser (<c>/usr/bin/chromium</c>, Debian's package,
/// which scripts/test.sh installs), driven through Playwright's bundled node driver. No browser is ever downloaded.
/// </summary>
/// <remarks>
/// Lifecycle: <see cref="StartAsync"/> starts the driver and one browser process with a fresh profile (Playwright
/// makes a temporary user-data-dir and deletes it on close); every <see cref="NewPageAsync"/> opens a page in its own
/// browser context (own cookies and storage), so tests sharing one browser do not see each other; disposing closes
/// the browser and the driver. Startup takes about a second.
/// <code>
/// await using var browser = await Chromium.StartAsync();
/// await using var page = await browser.NewPageAsync("http://127.0.0.1:5000/");
/// await page.WaitForAsync("document.querySelectorAll('li').length === 3", TimeSpan.FromSeconds(5));
/// var items = await page.EvaluateAsync&lt;string[]&gt;("[...document.querySelectorAll('li')].map(li => li.textContent)");
/// </code>
/// </remarks>
public sealed class Chromium : IAsyncDisposable
{
    /// <summary>
    /// The flags this browser is started with. The network ones matter on a closed network: without them Chromium
    /// stalls on background requests (QUIC, component updates, sync).
    /// </summary>
    public static readonly IReadOnlyList<string> Arguments =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private Chromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        _browser = browser;
    }

    /// <summary>The browser's version, e.g. <c>156.0.8078.108</c>.</summary>
    public string Version => _browser.Version;

    /// <summary>
    /// The Chromium executable: <c>CELERIAC_CHROMIUM</c> when set, else the first of <c>/usr/bin/chromium</c>,
    /// <c>/usr/bin/chromium-browser</c>, <c>/usr/bin/google-chrome</c> that exists; null when there is none.
    /// </summary>
    public static string? FindExecutable()
    {
        var configured = Environment.GetEnvironmentVariable("CELERIAC_CHROMIUM");
        if (!string.IsNullOrEmpty(configured)) return File.Exists(configured) ? configured : null;
        string[] candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>The message a test fails or skips with when <see cref="FindExecutable"/> finds nothing.</summary>
    public static string MissingMessage =>
        "Chromium was not found (/usr/bin/chromium, or the path in CELERIAC_CHROMIUM). The browser tests drive the " +
        "system's Chromium: install it with `apt-get install chromium` (scripts/test.sh does this).";

    /// <summary>Starts the Playwright driver and a headless Chromium.</summary>
    /// <exception cref="InvalidOperationException">Chromium is not installed.</exception>
    public static async Task<Chromium> StartAsync(CancellationToken cancellationToken = default)
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException(MissingMessage);
        cancellationToken.ThrowIfCancellationRequested();
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Args = Arguments,
                Timeout = 30_000,
            }).WaitAsync(cancellationToken);
            return new Chromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens <paramref name="url"/> in a new page (its own browser context) and waits until its <c>load</c> event.
    /// Console messages and uncaught errors of the page are recorded from the start (<see cref="BrowserPage.Log"/>).
    /// </summary>
    public async Task<BrowserPage> NewPageAsync(string url, CancellationToken cancellationToken = default)
    {
        var context = await _browser.NewContextAsync();
        try
        {
            context.SetDefaultTimeout(30_000);
            var page = await context.NewPageAsync();
            var result = new BrowserPage(context, page);
            var response = await page.GotoAsync(url).WaitAsync(cancellationToken);
            if (response is { Ok: false })
                throw new InvalidOperationException($"GET {url} answered {response.Status} {response.StatusText}.");
            return result;
        }
        catch
        {
            await context.CloseAsync();
            throw;
        }
    }

    /// <summary>Closes the browser and stops the driver.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _browser.CloseAsync();
        }
        finally
        {
            _playwright.Dispose();
        }
    }
}
