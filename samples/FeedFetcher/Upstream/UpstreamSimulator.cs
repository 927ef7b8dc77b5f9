using System.Globalization;
using System.Security;

namespace FeedFetcher.Upstream;

/// <summary>
/// A deliberately unreliable feed server: every response waits a random 50–800 ms and about one in four is a 503.
/// The random sequence comes from <c>Upstream:Seed</c> (a fresh seed each start when unset, logged so a run can be
/// repeated); latency bounds and failure rate come from the <c>Upstream</c> section.
/// </summary>
internal sealed partial class UpstreamSimulator
{
    private static readonly string[] Words = ["solar", "grid", "battery", "heat pump", "wind", "tariff", "storage", "meter", "inverter", "forecast"];
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly double _failureRate;
    private readonly int _minLatencyMs;
    private readonly int _maxLatencyMs;

    public UpstreamSimulator(IConfiguration configuration, ILogger<UpstreamSimulator> logger)
    {
        var seed = configuration.GetValue<int?>("Upstream:Seed") ?? Random.Shared.Next();
        _random = new Random(seed);
        _failureRate = configuration.GetValue("Upstream:FailureRate", 0.25);
        _minLatencyMs = configuration.GetValue("Upstream:MinLatencyMs", 50);
        _maxLatencyMs = Math.Max(_minLatencyMs, configuration.GetValue("Upstream:MaxLatencyMs", 800));
        LogSeed(logger, seed, _failureRate, _minLatencyMs, _maxLatencyMs);
    }

    /// <summary>How the next response behaves: its delay, whether it fails, and the words of its page.</summary>
    public (TimeSpan Delay, bool Fail, string[] Headlines) Next()
    {
        lock (_gate)
        {
            var delay = TimeSpan.FromMilliseconds(_random.Next(_minLatencyMs, _maxLatencyMs + 1));
            var fail = _random.NextDouble() < _failureRate;
            var headlines = Enumerable.Range(0, 3)
                .Select(_ => $"{Words[_random.Next(Words.Length)]} {Words[_random.Next(Words.Length)]} update #{_random.Next(1000)}")
                .ToArray();
            return (delay, fail, headlines);
        }
    }

    /// <summary>A small RSS page for <paramref name="feedId"/>.</summary>
    public static string Page(int feedId, string[] headlines, DateTimeOffset now)
    {
        var items = string.Concat(headlines.Select((h, i) =>
            $"    <item><title>{SecurityElement.Escape(h)}</title><guid>feed-{feedId}-{now.ToUnixTimeSeconds()}-{i}</guid></item>\n"));
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <rss version="2.0">
              <channel>
                <title>Feed {feedId.ToString(CultureInfo.InvariantCulture)}</title>
                <pubDate>{now.ToString("R", CultureInfo.InvariantCulture)}</pubDate>
            {items}  </channel>
            </rss>
            """;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Upstream simulator: seed {Seed} (set Upstream:Seed to repeat), failure rate {FailureRate}, latency {Min}-{Max} ms")]
    private static partial void LogSeed(ILogger logger, int seed, double failureRate, int min, int max);
}

/// <summary>The upstream endpoints, mapped into this app.</summary>
internal static class UpstreamEndpoints
{
    public static void MapUpstream(this WebApplication app)
    {
        app.MapGet("/upstream/feeds/{id:int}", async (int id, UpstreamSimulator upstream, TimeProvider time, CancellationToken ct) =>
        {
            var (delay, fail, headlines) = upstream.Next();
            await Task.Delay(delay, time, ct);
            return fail
                ? Results.Text("upstream is busy, try again later\n", "text/plain", statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Text(UpstreamSimulator.Page(id, headlines, time.GetUtcNow()), "application/rss+xml");
        }).ExcludeFromDescription();
    }
}
