using System.Collections.Concurrent;
using System.Diagnostics;
using Celeriac.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.Transport.Tests;

/// <summary>
/// What only the Redis store promises, against a real private <c>redis-server</c>: harnesses with the same key prefix
/// act as separate processes (each has its own connection) and wake each other through pub/sub; locks hold across
/// connections; the transport's keys share one cluster slot; a worker runs tasks end to end.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisTests(RedisServer redis)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static OutgoingMessage Message(string id, string queue = "q", string? key = null) =>
        new(id, queue, 0, "body-" + id, IdempotencyKey: key, IdempotencyExpiresAt: key is null ? null : DateTimeOffset.UtcNow + TimeSpan.FromHours(1));

    [Fact]
    public async Task Waiting_receive_wakes_promptly_on_a_send_through_another_connection()
    {
        var prefix = redis.NewPrefix();
        await using var receiver = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await using var sender = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await sender.Transport.GetQueueStatsAsync(); // connected

        for (var round = 0; round < 3; round++)
        {
            var receive = receiver.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask();
            if (receive.IsCompleted) Assert.Fail($"The receive did not wait: {(await receive).Count} message(s)");
            var clock = Stopwatch.StartNew();
            await sender.Transport.EnqueueAsync([Message("a" + round)]);
            var received = Assert.Single(await receive.WaitAsync(Bound));
            Assert.Equal("a" + round, received.Id);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"woke after {clock.Elapsed}");
            Assert.True(await receiver.Transport.AckAsync(received));
        }
    }

    [Fact]
    public async Task Result_written_through_one_connection_wakes_a_waiter_on_another()
    {
        var prefix = redis.NewPrefix();
        await using var worker = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await using var caller = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await worker.Results.GetAsync("warm-up");

        var wait = caller.Results.WaitAsync("t1", TimeSpan.FromSeconds(30)).AsTask();
        await worker.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Started, null, null, 0, DateTimeOffset.UtcNow), null);
        var clock = Stopwatch.StartNew();
        await worker.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Success, "42", null, 0, DateTimeOffset.UtcNow), DateTimeOffset.UtcNow + TimeSpan.FromHours(1));

        var result = await wait.WaitAsync(Bound);
        Assert.Equal((TaskStates.Success, "42"), (result?.State, result?.Result));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"woke after {clock.Elapsed}");
    }

    [Fact]
    public async Task Idempotency_key_is_shared_by_producers_on_different_connections()
    {
        var prefix = redis.NewPrefix();
        var producers = Enumerable.Range(0, 4).Select(_ => Fixtures.Redis(redis, TimeProvider.System, prefix)).ToList();
        try
        {
            var sends = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
                (await producers[i % producers.Count].Transport.EnqueueAsync([Message("m" + i, key: "order-42")]))[0]));
            var ids = await Task.WhenAll(sends).WaitAsync(Bound);

            var winner = Assert.Single(ids.Distinct());
            var received = Assert.Single(await producers[0].Transport.ReceiveAsync(["q"], 100, Lease, TimeSpan.Zero));
            Assert.Equal(winner, received.Id);
        }
        finally
        {
            foreach (var p in producers) await p.DisposeAsync();
        }
    }

    [Fact]
    public async Task Key_prefixes_keep_apps_apart()
    {
        await using var one = Fixtures.Redis(redis, TimeProvider.System);
        await using var two = Fixtures.Redis(redis, TimeProvider.System);
        await one.Transport.EnqueueAsync([Message("a")]);
        await one.Results.SetAsync(new TaskResult("t", "x", TaskStates.Success, "1", null, 0, DateTimeOffset.UtcNow), null);

        Assert.Empty(await two.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero));
        Assert.Empty(await two.Transport.GetQueueStatsAsync());
        Assert.Null(await two.Results.GetAsync("t"));
        Assert.Equal("a", Assert.Single(await one.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero)).Id);
    }

    [Fact]
    public async Task Transport_keys_share_one_cluster_slot()
    {
        var prefix = redis.NewPrefix();
        await using (var h = Fixtures.Redis(redis, TimeProvider.System, prefix))
        {
            await h.Transport.EnqueueAsync([Message("a", "q1", key: "k"), Message("b", "q2"), Message("d", "q2"), new OutgoingMessage("c", "q1", 0, "c", DateTimeOffset.UtcNow + TimeSpan.FromHours(1))]);
            var a = (await h.Transport.ReceiveAsync(["q1"], 1, Lease, TimeSpan.Zero))[0];
            Assert.True(await h.Transport.DeadLetterAsync(a, new DeadLetterInfo("failed", null, "x", null)));
            await h.Transport.ReceiveAsync(["q2"], 1, Lease, TimeSpan.Zero);
        }

        await using var mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var keys = mux.GetServer(redis.Configuration).Keys(pattern: prefix + "*").Select(k => (string)k!).ToList();
        var transport = new RedisKeys(prefix).Transport;
        Assert.All(keys, k => Assert.StartsWith(transport, k, StringComparison.Ordinal));
        foreach (var part in new[] { "seq", "queues", "m:b", "m:c", "ready:q2", "delayed:q1", "leased:q2", "idem:k", "dead", "deadcount" })
            Assert.Contains(transport + part, keys);
        Assert.Single(keys.Select(k => mux.HashSlot(k)).Distinct());
    }

    [Fact]
    public async Task Damaged_dead_letter_entries_do_not_stop_lookup_requeue_or_delete_by_id()
    {
        var prefix = redis.NewPrefix();
        await using var h = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await h.Transport.EnqueueAsync([Message("a")]);
        var a = Assert.Single(await h.Transport.ReceiveAsync(["q"], 1, Lease, TimeSpan.Zero));
        Assert.True(await h.Transport.DeadLetterAsync(a, new DeadLetterInfo("failed", "X", "broken", null)));

        await using var mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = mux.GetDatabase();
        var dead = new RedisKeys(prefix).Transport + "dead";
        // Another writer's leftovers: not JSON, JSON that is not an object, an entry naming "a" with no queue.
        await db.ListLeftPushAsync(dead, ["not json {a}", "[\"a\"]", "{\"id\":\"b\",\"body\":\"x\"}", "{\"id\":\"c\",\"body\":7}"]);

        Assert.Equal("body-a", (await h.Transport.GetDeadLetterAsync("a"))!.Body);
        var b = await h.Transport.GetDeadLetterAsync("b");
        Assert.Equal(("b", "", "x"), (b!.Id, b.Queue, b.Body));
        // Fields of the wrong type: not shown, but it can still be deleted.
        Assert.Null(await h.Transport.GetDeadLetterAsync("c"));
        Assert.True(await h.Transport.DeleteDeadLetterAsync("c"));
        await Assert.ThrowsAsync<RedisServerException>(async () => await h.Transport.RequeueDeadLetterAsync("b", "x"));
        Assert.True(await h.Transport.DeleteDeadLetterAsync("b"));

        Assert.True(await h.Transport.RequeueDeadLetterAsync("a", "fixed"));
        Assert.Equal("fixed", Assert.Single(await h.Transport.ReceiveAsync(["q"], 1, Lease, TimeSpan.Zero)).Body);
        Assert.Equal(2, await db.ListLengthAsync(dead));

        // A dead-letter list of another type: lookups find nothing, a requeue is refused, and nothing crashes.
        await db.KeyDeleteAsync(dead);
        await db.StringSetAsync(dead, "oops");
        Assert.Null(await h.Transport.GetDeadLetterAsync("a"));
        Assert.False(await h.Transport.DeleteDeadLetterAsync("a"));
        var refused = await Assert.ThrowsAsync<RedisServerException>(async () => await h.Transport.RequeueDeadLetterAsync("a", "x"));
        Assert.Contains("not a list", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_one_of_many_concurrent_lock_acquirers_wins()
    {
        var prefix = redis.NewPrefix();
        var harnesses = Enumerable.Range(0, 4).Select(_ => Fixtures.Redis(redis, TimeProvider.System, prefix)).ToList();
        try
        {
            var locks = harnesses.Select(h => h.Services.GetRequiredService<ILockProvider>()).ToList();
            var tries = Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
                await locks[i % locks.Count].TryAcquireAsync("device:7", TimeSpan.FromMinutes(1))));
            var tokens = await Task.WhenAll(tries).WaitAsync(Bound);

            var token = Assert.Single(tokens, t => t is not null);
            Assert.Null(await locks[1].TryAcquireAsync("device:7", TimeSpan.FromMinutes(1)));
            Assert.NotNull(await locks[1].TryAcquireAsync("device:8", TimeSpan.FromMinutes(1)));
            Assert.True(await locks[2].ReleaseAsync("device:7", token!));
            Assert.NotNull(await locks[3].TryAcquireAsync("device:7", TimeSpan.FromMinutes(1)));
        }
        finally
        {
            foreach (var h in harnesses) await h.DisposeAsync();
        }
    }

    [Fact]
    public async Task Lock_renew_and_release_need_the_holders_token()
    {
        await using var h = Fixtures.Redis(redis, TimeProvider.System);
        var locks = h.Services.GetRequiredService<ILockProvider>();
        var token = await locks.TryAcquireAsync("k", TimeSpan.FromMinutes(1));
        Assert.NotNull(token);

        Assert.False(await locks.RenewAsync("k", "not-the-token", TimeSpan.FromMinutes(1)));
        Assert.False(await locks.ReleaseAsync("k", "not-the-token"));
        Assert.Null(await locks.TryAcquireAsync("k", TimeSpan.FromMinutes(1)));
        Assert.True(await locks.RenewAsync("k", token!, TimeSpan.FromMinutes(1)));
        Assert.True(await locks.ReleaseAsync("k", token!));
        Assert.False(await locks.ReleaseAsync("k", token!));
        Assert.False(await locks.RenewAsync("k", token!, TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task Expired_lock_lease_can_be_taken_and_the_old_holder_loses_it()
    {
        var prefix = redis.NewPrefix();
        await using var first = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await using var second = Fixtures.Redis(redis, TimeProvider.System, prefix);
        var a = first.Services.GetRequiredService<ILockProvider>();
        var b = second.Services.GetRequiredService<ILockProvider>();

        var old = await a.TryAcquireAsync("k", TimeSpan.FromMilliseconds(200));
        Assert.NotNull(old);
        Assert.Null(await b.TryAcquireAsync("k", TimeSpan.FromMinutes(1)));
        var taken = await Eventually.GetAsync(async () => await b.TryAcquireAsync("k", TimeSpan.FromMinutes(1)));

        Assert.NotEqual(old, taken);
        Assert.False(await a.RenewAsync("k", old!, TimeSpan.FromMinutes(1)));
        Assert.False(await a.ReleaseAsync("k", old!));
        Assert.True(await b.ReleaseAsync("k", taken));
    }

    [Fact]
    public async Task Worker_runs_tasks_end_to_end_through_redis()
    {
        var prefix = redis.NewPrefix();
        var ran = new ConcurrentDictionary<int, int>();
        using var worker = RedisHosts.Worker(redis.Configuration, prefix, ran);
        await worker.StartAsync();
        using var web = RedisHosts.Client(redis.Configuration, prefix);
        var client = web.Services.GetRequiredService<ITaskClient>();

        var handles = new List<TaskHandle>();
        for (var i = 0; i < 100; i++) handles.Add(await client.SendAsync("double", new[] { i }));
        for (var i = 0; i < handles.Count; i++)
            Assert.Equal(2 * i, await handles[i].GetAsync<int>(Bound));
        Assert.Equal(100, ran.Count);
        Assert.All(ran.Values, count => Assert.Equal(1, count));

        var transport = web.Services.GetRequiredService<ITaskTransport>();
        await Eventually.TrueAsync(async () => (await transport.GetQueueStatsAsync()).All(s => s.Ready + s.Leased + s.Delayed == 0));
        await worker.StopAsync();
    }

    [Fact]
    public async Task Operations_fail_fast_with_a_connection_error_while_no_server_answers()
    {
        var services = new ServiceCollection();
        services.AddCeleriac(c => c.UseRedis($"127.0.0.1:{UnusedPort()},connectTimeout=500,connectRetry=1"));
        await using var provider = services.BuildServiceProvider();
        var transport = provider.GetRequiredService<ITaskTransport>();
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<RedisConnectionException>(async () => await transport.EnqueueAsync([Message("a")]));
        await Assert.ThrowsAsync<RedisConnectionException>(async () => await transport.ReceiveAsync(["q"], 1, Lease, TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < Bound, $"took {clock.Elapsed}");
    }

    private static int UnusedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Hosts that use Redis as an app would: a worker process and a web (client-only) process.</summary>
internal static class RedisHosts
{
    public static IHost Worker(string configuration, string prefix, ConcurrentDictionary<int, int> ran)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac(c =>
        {
            c.UseRedis(configuration, o => o.KeyPrefix = prefix);
            c.ConfigureWorker(o =>
            {
                o.Concurrency = 4;
                o.FetchWait = TimeSpan.FromSeconds(1);
                o.ShutdownTimeout = TimeSpan.FromSeconds(5);
            });
            c.MapTask("double", (int n) =>
            {
                ran.AddOrUpdate(n, 1, (_, c) => c + 1);
                return 2 * n;
            });
        });
        return builder.Build();
    }

    public static IHost Client(string configuration, string prefix)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac(c => c.UseRedis(configuration, o => o.KeyPrefix = prefix));
        return builder.Build();
    }
}

/// <summary>Waits on a condition with a real-time timeout, yielding between checks.</summary>
internal static class Eventually
{
    public static async Task<T> GetAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout = null) where T : class
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await probe() is { } value) return value;
            if (clock.Elapsed > limit) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(10);
        }
    }

    public static Task TrueAsync(Func<Task<bool>> probe, TimeSpan? timeout = null) =>
        GetAsync<object>(async () => await probe() ? new object() : null, timeout);
}
