using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
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
}
