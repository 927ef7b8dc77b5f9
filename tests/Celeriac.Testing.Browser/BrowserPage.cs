using System.Collections.Concurrent;
using Microsoft.Playwright;

namespace Celeriac.Testing.Browser;

/// <summary>A page opened by <see cref="Chromium.NewPageAsync"/>, in its own browser context; disposing closes both.</summary>
public sealed class BrowserPage : IAsyncDisposable
{
    private readonly IBrowserContext _context;
    private readonly ConcurrentQueue<string> _log = new();

    internal BrowserPage(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.Console += (_, message) => _log.Enqueue($"console.{message.Type}: {message.Text}");
        page.PageError += (_, error) => _log.Enqueue($"uncaught: {error}");
        page.RequestFailed += (_, request) => _log.Enqueue($"request failed: {request.Method} {request.Url} {request.Failure}");
    }

    /// <summary>Playwright's page, for anything this wrapper does not cover (clicks, typing, routes, …).</summary>
    public IPage Page { get; }

    /// <summary>The page's console messages, uncaught errors and failed requests so far, oldest first.</summary>
    public IReadOnlyList<string> Log => [.. _log];

    /// <summary>
    /// Evaluates a JavaScript expression (or a function, which is called) in the page and returns its value,
    /// deserialized; a promise is awaited. An exception thrown in the page becomes a <see cref="PlaywrightException"/>.
    /// </summary>
    public Task<T> EvaluateAsync<T>(string expression) => Page.EvaluateAsync<T>(expression);

    /// <summary>Evaluates a JavaScript expression for its side effects (a promise is awaited).</summary>
    public Task EvaluateAsync(string expression) => Page.EvaluateAsync(expression);

    /// <summary>
    /// Waits until the JavaScript expression <paramref name="condition"/> is truthy in the page (checked every 20 ms).
    /// </summary>
    /// <exception cref="TimeoutException">It was not within <paramref name="timeout"/>; the message holds the page's log.</exception>
    public async Task WaitForAsync(string condition, TimeSpan timeout)
    {
        try
        {
            await Page.WaitForFunctionAsync(condition, options: new PageWaitForFunctionOptions
            {
                PollingInterval = 20,
                Timeout = (float)timeout.TotalMilliseconds,
            });
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(
                $"The page did not satisfy `{condition}` within {timeout.TotalSeconds:0.#} s. Page log:\n  " +
                string.Join("\n  ", Log.TakeLast(40)), e);
        }
    }

    /// <summary>
    /// Waits until the page's address satisfies <paramref name="match"/> (checked every 20 ms), as it does once a
    /// navigation has committed; then wait for the content with <see cref="WaitForAsync"/>. Playwright's own
    /// <c>WaitForURLAsync</c> also waits for a load state, and when the navigation had committed before the call
    /// that wait can miss its event and time out.
    /// </summary>
    /// <exception cref="TimeoutException">It did not within <paramref name="timeout"/>; the message holds the address and the page's log.</exception>
    public async Task WaitForUrlAsync(Func<Uri, bool> match, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(match);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!match(new Uri(Page.Url)))
        {
            if (waited.Elapsed > timeout)
                throw new TimeoutException(
                    $"The page stayed at {Page.Url} for {timeout.TotalSeconds:0.#} s. Page log:\n  " + string.Join("\n  ", Log.TakeLast(40)));
            await Task.Delay(20);
        }
    }

    /// <summary>Saves a PNG screenshot of the whole page to <paramref name="path"/> (its folder is created).</summary>
    public async Task ScreenshotAsync(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
    }

    /// <summary>Closes the page and its browser context.</summary>
    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}
