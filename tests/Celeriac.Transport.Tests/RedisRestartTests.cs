using System.Collections.Concurrent;
using System.Diagnostics;
using Celeriac.Operations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Transport.Tests;

/// <summary>
/// The server is killed (SIGKILL) and started again on the same port and append-only directory: what was acknowledged
/// before is still there, clients fail with connection errors while it is down and recover on their own within
/// seconds, and a running worker picks up work again. Uses a server of its own, since it stops it.
/// </summary>
public sealed class RedisRestartTests(RedisServer redis) : IClassFixture<RedisServer>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Messages_results_and_leases_survive_a_restart_and_the_transport_recovers()
    {
        await using var h = Fixtures.Redis(redis, TimeProvider.System);
        var later = DateTimeOffset.UtcNow + TimeSpan.FromHours(1);
        await h.Transport.EnqueueAsync(
        [
            new OutgoingMessage("ready", "q", 0, "body-ready", IdempotencyKey: "k", IdempotencyExpiresAt: later),
            new OutgoingMessage("leased", "q", 5, "body-leased"),
            new OutgoingMessage("delayed", "q", 0, "body-delayed", later),
        ]);
        var leased = Assert.Single(await h.Transport.ReceiveAsync(["q"], 1, TimeSpan.FromSeconds(1), TimeSpan.Zero));
        Assert.Equal("leased", leased.Id);
        await h.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Success, "42", null, 0, DateTimeOffset.UtcNow), later);

        await redis.KillAsync();
        await Assert.ThrowsAnyAsync<RedisConnectionException>(async () => await h.Transport.EnqueueAsync([new OutgoingMessage("down", "q", 0, "x")]));
        await redis.RestartAsync();

        // Until the connection is back, calls fail with connection errors; the first that works finds the message.
        var clock = Stopwatch.StartNew();
        var received = new List<LeasedMessage>(await Eventually.GetAsync(async () =>
        {
            try
            {
                var got = await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero);
                return got.Count > 0 ? got : null;
            }
            catch (RedisException)
            {
                return null;
            }
        }, Recovery));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"recovered after {clock.Elapsed}");

        // The lease taken before the restart runs out and that message comes back with a higher delivery count.
        while (received.Count < 2)
        {
            received.AddRange(await Eventually.GetAsync(async () =>
            {
                var got = await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero);
                return got.Count > 0 ? got : null;
            }));
        }
        Assert.Equal(["leased", "ready"], received.Select(m => m.Id).Order());
        Assert.Equal(2, received.Single(m => m.Id == "leased").DeliveryCount);
        foreach (var m in received) Assert.True(await h.Transport.AckAsync(m));

        Assert.Equal(new QueueStats("q", 0, 1, 0, 0), (await h.Transport.GetQueueStatsAsync()).Single());
        Assert.Equal(["ready"], await h.Transport.EnqueueAsync([new OutgoingMessage("again", "q", 0, "x", IdempotencyKey: "k", IdempotencyExpiresAt: later)]));
        Assert.Equal("42", (await h.Results.GetAsync("t1"))?.Result);
    }

    [Fact]
    public async Task Readiness_fails_while_the_server_is_down_and_recovers_when_it_is_back()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac(c => c.UseRedis(redis.Configuration, o => o.KeyPrefix = redis.NewPrefix()));
        builder.Services.AddHealthChecks().AddCeleriac(storeTimeout: TimeSpan.FromSeconds(2));
        using var host = builder.Build();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        Task<HealthReport> ReadyAsync() => health.CheckHealthAsync(r => r.Tags.Contains(CeleriacHealthCheckExtensions.ReadyTag));

        var up = await ReadyAsync();
        Assert.Equal(HealthStatus.Healthy, up.Status);

        await redis.KillAsync();
        try
        {
            var down = await Eventually.GetAsync(async () => await ReadyAsync() is { Status: HealthStatus.Unhealthy } r ? r : null, Recovery);
            Assert.Equal(HealthStatus.Unhealthy, down.Entries["celeriac.store"].Status);
            Assert.NotNull(down.Entries["celeriac.store"].Description);
        }
        finally
        {
            await redis.RestartAsync();
        }
        await Eventually.GetAsync(async () => await ReadyAsync() is { Status: HealthStatus.Healthy } r ? r : null, Recovery);
    }

    [Fact]
    public async Task A_running_worker_picks_up_work_again_after_a_restart()
    {
        var prefix = redis.NewPrefix();
        var ran = new ConcurrentDictionary<int, int>();
        using var worker = RedisHosts.Worker(redis.Configuration, prefix, ran);
        await worker.StartAsync();
        using var web = RedisHosts.Client(redis.Configuration, prefix);
        var client = web.Services.GetRequiredService<ITaskClient>();
        Assert.Equal(2, await (await client.SendAsync("double", new[] { 1 })).GetAsync<int>(Recovery));

        await redis.KillAsync();
        await redis.RestartAsync();

        var clock = Stopwatch.StartNew();
        var handle = await Eventually.GetAsync(async () =>
        {
            try
            {
                return await client.SendAsync("double", new[] { 2 });
            }
            catch (RedisException)
            {
                return null;
            }
        }, Recovery);
        Assert.Equal(4, await handle.GetAsync<int>(Recovery));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"recovered after {clock.Elapsed}");
        await worker.StopAsync();
    }

    [Fact]
    public async Task Losing_and_regaining_the_connection_is_logged()
    {
        var log = new CollectingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(log));
        services.AddCeleriac(c => c.UseRedis(redis.Configuration, o => o.KeyPrefix = redis.NewPrefix()));
        await using var provider = services.BuildServiceProvider();
        var transport = provider.GetRequiredService<ITaskTransport>();
        await transport.EnqueueAsync([new OutgoingMessage("a", "q", 0, "x")]);
        Assert.Contains(log.Messages, m => m.Level == LogLevel.Information && m.Text.StartsWith("Connected to Redis", StringComparison.Ordinal));

        await redis.KillAsync();
        await Eventually.TrueAsync(() => Task.FromResult(log.Messages.Any(m => m.Level == LogLevel.Warning && m.Text.Contains("failed", StringComparison.Ordinal))));
        await redis.RestartAsync();
        await Eventually.TrueAsync(() => Task.FromResult(log.Messages.Any(m => m.Level == LogLevel.Information && m.Text.Contains("restored", StringComparison.Ordinal))), Recovery);
        // Each of the multiplexer's two connections logs its own restore: commands may still fail a moment after the
        // first, until the other is back.
        var received = await Eventually.GetAsync(async () =>
        {
            try { return await transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero) is { Count: > 0 } r ? r : null; }
            catch (RedisException) { return null; }
        }, Recovery);
        Assert.Equal("a", Assert.Single(received).Id);
    }
}

/// <summary>Keeps every log message, for tests that check what is logged.</summary>
internal sealed class CollectingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Text)> _messages = new();

    public IReadOnlyCollection<(LogLevel Level, string Text)> Messages => _messages;

    public ILogger CreateLogger(string categoryName) => new Logger(_messages);

    public void Dispose()
    {
    }

    private sealed class Logger(ConcurrentQueue<(LogLevel, string)> messages) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue((logLevel, formatter(state, exception)));
    }
}
