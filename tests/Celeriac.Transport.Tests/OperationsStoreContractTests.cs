using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>What every <see cref="IOperationsStore"/> must do (heartbeats and the task journal), run against each store.</summary>
public abstract class OperationsStoreContractTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    protected abstract TransportHarness Open(TimeProvider time);

    private static IOperationsStore Store(TransportHarness h) => h.Services.GetRequiredService<IOperationsStore>();

    private static TaskEventRecord Event(string task, int n) => new(task, Start.AddSeconds(n), $"{{\"task\":\"{task}\",\"n\":{n}}}");

    [Fact]
    public async Task Heartbeats_replace_expire_after_their_ttl_and_can_be_removed()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        await store.PutProcessAsync("p1", "{\"v\":1}", TimeSpan.FromSeconds(30));
        await store.PutProcessAsync("p1", "{\"v\":2}", TimeSpan.FromSeconds(30));
        await store.PutProcessAsync("p2", "{\"p\":2}", TimeSpan.FromSeconds(60));
        Assert.Equal(["{\"p\":2}", "{\"v\":2}"], (await store.GetProcessesAsync()).Order(StringComparer.Ordinal));

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(["{\"p\":2}"], await store.GetProcessesAsync());
        await store.RemoveProcessAsync("p2");
        Assert.Empty(await store.GetProcessesAsync());
    }

    [Fact]
    public async Task Stories_keep_order_and_recent_is_newest_first()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        await store.AppendTaskEventsAsync([Event("a", 1), Event("b", 2), Event("a", 3)], Hour, 100);
        await store.AppendTaskEventsAsync([Event("c", 4)], Hour, 100);
        Assert.Equal([Event("a", 1).Record, Event("a", 3).Record], await store.GetTaskEventsAsync("a"));
        Assert.Equal([Event("c", 4).Record, Event("a", 3).Record, Event("b", 2).Record], await store.GetRecentTasksAsync(10));
        Assert.Equal([Event("c", 4).Record], await store.GetRecentTasksAsync(1));
        Assert.Empty(await store.GetTaskEventsAsync("missing"));
    }

    [Fact]
    public async Task Max_recent_evicts_the_least_recently_active_task_and_its_story()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        await store.AppendTaskEventsAsync([Event("a", 1), Event("b", 2)], Hour, 2);
        await store.AppendTaskEventsAsync([Event("c", 3)], Hour, 2);
        Assert.Empty(await store.GetTaskEventsAsync("a"));
        Assert.Equal([Event("c", 3).Record, Event("b", 2).Record], await store.GetRecentTasksAsync(10));
    }

    [Fact]
    public async Task Stories_expire_after_keep_for_and_a_late_event_starts_a_new_story()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        await store.AppendTaskEventsAsync([Event("a", 1), Event("a", 2)], TimeSpan.FromMinutes(10), 100);
        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(2, (await store.GetTaskEventsAsync("a")).Count);
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(await store.GetTaskEventsAsync("a"));
        Assert.Empty(await store.GetRecentTasksAsync(10));

        await store.AppendTaskEventsAsync([Event("a", 900)], TimeSpan.FromMinutes(10), 100);
        Assert.Equal([Event("a", 900).Record], await store.GetTaskEventsAsync("a"));
        Assert.Equal([Event("a", 900).Record], await store.GetRecentTasksAsync(10));
    }

    [Fact]
    public async Task A_batch_of_500_events_is_one_call()
    {
        await using var h = Open(new FakeTimeProvider(Start));
        var store = Store(h);
        var batch = Enumerable.Range(0, 500).Select(i => Event("t" + (i % 50), i)).ToArray();
        await store.AppendTaskEventsAsync(batch, Hour, 10_000);
        Assert.Equal(50, (await store.GetRecentTasksAsync(1000)).Count);
        Assert.Equal(batch.Where(e => e.TaskId == "t7").Select(e => e.Record), await store.GetTaskEventsAsync("t7"));
    }

    [Fact]
    public async Task Concurrent_appenders_lose_nothing()
    {
        await using var h = Open(new FakeTimeProvider(Start));
        var store = Store(h);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var b = 0; b < 20; b++)
                await store.AppendTaskEventsAsync(Enumerable.Range(0, 10).Select(i => Event("t" + i, (w * 1000) + (b * 10) + i)).ToArray(), Hour, 10_000);
        }))).WaitAsync(TimeSpan.FromSeconds(60));
        for (var i = 0; i < 10; i++)
            Assert.Equal(160, (await store.GetTaskEventsAsync("t" + i)).Distinct().Count());
    }
}

public sealed class InMemoryOperationsStoreTests : OperationsStoreContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.InMemory(time);
}

public sealed class SqliteOperationsStoreTests : OperationsStoreContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.SqliteTemp(time);
}

[Collection(RedisCollection.Name)]
public sealed class RedisOperationsStoreTests(RedisServer redis) : OperationsStoreContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.Redis(redis, time);
}
