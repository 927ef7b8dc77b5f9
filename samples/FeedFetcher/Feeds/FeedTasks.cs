using System.Text.RegularExpressions;
using Celeriac;

namespace FeedFetcher.Feeds;

/// <summary>What <c>feeds.fetch</c> returns.</summary>
internal sealed record FetchSummary(int FeedId, string? Title, int Bytes, DateTimeOffset FetchedAt, int Attempt);

/// <summary>The task delegates. Parameters bind from the task's arguments, services and the <see cref="TaskContext"/>.</summary>
internal static partial class FeedTasks
{
    /// <summary>Name of the <see cref="HttpClient"/> configured for the upstream server.</summary>
    public const string UpstreamClient = "upstream";

    /// <summary>
    /// <c>feeds.fetch</c>: downloads one feed page and stores it. A 503 or a timeout throws, and the retry policy set in
    /// Program.cs sends the task back to the queue with backoff; after the last retry it lands in the dead-letter store.
    /// </summary>
    public static async Task<FetchSummary> FetchAsync(int feedId, FeedStore store, IHttpClientFactory http, TaskContext ctx)
    {
        var client = http.CreateClient(UpstreamClient);
        using var response = await client.GetAsync(new Uri($"feeds/{feedId}", UriKind.Relative), ctx.CancellationToken);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStringAsync(ctx.CancellationToken);
        var title = TitlePattern().Match(body) is { Success: true } m ? m.Groups[1].Value : null;
        var attempt = ctx.Retries + 1;
        var fetchedAt = await store.SaveAsync(feedId, title, body, attempt, ctx.CancellationToken);
        return new FetchSummary(feedId, title, body.Length, fetchedAt, attempt);
    }

    /// <summary>
    /// <c>feeds.fetch_all</c>: sends one <c>feeds.fetch</c> per feed 1..<paramref name="count"/> as a group (so slow
    /// pages overlap across the worker's slots) and returns the member task ids at once, without waiting for them.
    /// </summary>
    public static async Task<string[]> FetchAllAsync(int count, ITaskClient tasks, TaskContext ctx)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 1000);
        var members = Enumerable.Range(1, count).Select(feedId => new TaskSignature("feeds.fetch", new[] { feedId })).ToList();
        var group = await tasks.GroupAsync(members, ctx.CancellationToken);
        return [.. group.Members.Select(m => m.Id)];
    }

    [GeneratedRegex("<title>(.*?)</title>", RegexOptions.Singleline)]
    private static partial Regex TitlePattern();
}
