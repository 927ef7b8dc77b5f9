using System.Diagnostics;
using System.Text;
using Celeriac.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Celeriac.Transport.Tests;

/// <summary>
/// The event store on Redis: the contract suite (harnesses with one key prefix act as separate processes), plus what
/// only Redis does: subject matching in Lua agrees with <see cref="EventSubjects.Matches"/>, separate connections see
/// each other's events and listeners unsubscribe, publish wakes receivers elsewhere, and every key sits in the
/// transport's slot.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisEventStoreTests(RedisServer redis) : EventStoreContractTests
{
    private string? _prefix;

    protected override TransportHarness Open(TimeProvider time) => Fixtures.Redis(redis, time, _prefix = redis.NewPrefix());

    /// <summary>A second connection with the same key prefix, as another process would have.</summary>
    protected override TransportHarness OpenSecond(TransportHarness first) => Fixtures.Redis(redis, first.Time, _prefix);

    private static IEventStore Store(TransportHarness h) => h.Events;

    /// <summary>Pattern, subject and whether NATS says they match; the C# matcher must agree, and so must the Lua one.</summary>
    private static readonly (string Pattern, string Subject, bool Match)[] Pairs =
    [
        ("a", "a", true),
        ("a", "b", false),
        ("a", "a.b", false),
        ("a.b", "a", false),
        ("a.b", "a.b", true),
        ("ab", "a", false),
        ("a", "ab", false),
        ("a.b", "a.bc", false),
        ("x.y.z", "x.y", false),
        ("*", "a", true),
        ("*", "a.b", false),
        ("*.*", "a.b", true),
        ("*.b", "a.b", true),
        ("*.b", "a.c", false),
        ("a.*", "a.b", true),
        ("a.*", "a", false),
        ("a.*", "a.b.c", false),
        ("a.*.c", "a.b.c", true),
        ("a.*.c", "a.b.d", false),
        ("a.>", "a", false),
        ("a.>", "a.b", true),
        ("a.>", "a.b.c", true),
        (">", "a", true),
        (">", "a.b.c", true),
        ("*.>", "a", false),
        ("*.>", "a.b", true),
        ("a.*.>", "a.b.c.d", true),
        ("a.*.>", "a.b", false),
        ("users.*", "users.42", true),
        ("a-b.*", "a-b.x", true),
        ("%d.x", "%d.x", true),
        ("%d.x", "5.x", false),
        ("a+.b", "aa.b", false),
        ("(.)", "(.)", true),
        ("ü.*", "ü.ö", true),
        ("*.ö", "ü.o", false),
    ];

    [Fact]
    public async Task Lua_matching_agrees_with_EventSubjects_Matches()
    {
        Assert.All(Pairs, p => Assert.True(EventSubjects.Matches(p.Pattern, p.Subject) == p.Match, $"C#: '{p.Pattern}' vs '{p.Subject}'"));

        var time = new FakeTimeProvider(Start);
        await using var h = Fixtures.Redis(redis, time);
        var store = Store(h);
        var patterns = Pairs.Select(p => p.Pattern).Distinct().ToList();
        var subjects = Pairs.Select(p => p.Subject).Distinct().ToList();
        for (var i = 0; i < patterns.Count; i++)
            await store.SaveSubscriptionAsync(new DurableSubscription($"p{i:00}", patterns[i], $"q{i:00}", Start));

        // Every subject against every pattern: far more pairs than the table, each checked by name and by queue.
        var expectedInQueue = patterns.Select(_ => new List<string>()).ToList();
        for (var e = 0; e < subjects.Count; e++)
        {
            var names = await store.PublishAsync(new PublishedEvent($"e{e:00}", subjects[e], "{}"));
            var expected = Enumerable.Range(0, patterns.Count).Where(i => EventSubjects.Matches(patterns[i], subjects[e])).ToList();
            Assert.True(expected.Select(i => $"p{i:00}").SequenceEqual(names),
                $"subject '{subjects[e]}': Lua matched [{string.Join(", ", names)}], C# [{string.Join(", ", expected.Select(i => patterns[i]))}]");
            foreach (var i in expected) expectedInQueue[i].Add($"e{e:00}:p{i:00}");
        }
        for (var i = 0; i < patterns.Count; i++)
        {
            var received = await h.Transport.ReceiveAsync([$"q{i:00}"], 1000, Lease, TimeSpan.Zero);
            Assert.Equal(expectedInQueue[i], received.Select(m => m.Id));
        }
    }

    [Fact]
    public async Task A_listener_on_one_connection_gets_events_published_on_another_in_order_and_unsubscribes_when_cancelled()
    {
        var prefix = redis.NewPrefix();
        await using var listenerSide = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await using var publisherSide = Fixtures.Redis(redis, TimeProvider.System, prefix);
        var channel = ((RedisEventStore)Store(listenerSide)).EventChannel;
        var db = await publisherSide.Services.GetRequiredService<RedisConnection>().DatabaseAsync();
        async Task<long> Subscribers() => (long)((RedisResult[])(await db.ExecuteAsync("PUBSUB", "NUMSUB", channel))!)[1];

        using var cts = new CancellationTokenSource();
        var events = Store(listenerSide).ListenAsync(cts.Token).GetAsyncEnumerator();
        var first = events.MoveNextAsync().AsTask();
        await Eventually.TrueAsync(async () => await Subscribers() == 1, Bound);

        var sent = Enumerable.Range(0, 50).Select(i => new PublishedEvent("id:" + i, "orders." + i, "{\"n\":" + i + ",\"s\":\"ü:3:x\"}")).ToList();
        foreach (var e in sent) await Store(publisherSide).PublishAsync(e);

        Assert.True(await first.WaitAsync(Bound));
        var received = new List<PublishedEvent> { events.Current };
        while (received.Count < sent.Count)
        {
            Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(Bound));
            received.Add(events.Current);
        }
        Assert.Equal(sent, received);

        var next = events.MoveNextAsync().AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Bound));
        await events.DisposeAsync();
        await Eventually.TrueAsync(async () => await Subscribers() == 0, Bound);
    }

    [Fact]
    public async Task Publish_wakes_a_waiting_receiver_on_another_connection()
    {
        var prefix = redis.NewPrefix();
        await using var worker = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await using var publisher = Fixtures.Redis(redis, TimeProvider.System, prefix);
        await Store(publisher).SaveSubscriptionAsync(new DurableSubscription("audit", "orders.>", "audit-q", DateTimeOffset.UtcNow));

        var receive = worker.Transport.ReceiveAsync(["audit-q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask();
        Assert.False(receive.IsCompleted);
        var clock = Stopwatch.StartNew();
        Assert.Equal(["audit"], await Store(publisher).PublishAsync(new PublishedEvent("e1", "orders.created", "{}")));
        var received = Assert.Single(await receive.WaitAsync(Bound));
        Assert.Equal(("e1:audit", "{}", 0), (received.Id, received.Body, received.Priority));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"woke after {clock.Elapsed}");
    }

    [Fact]
    public async Task Registry_and_event_keys_live_in_the_transport_slot()
    {
        var prefix = redis.NewPrefix();
        await using (var h = Fixtures.Redis(redis, TimeProvider.System, prefix))
        {
            await Store(h).SaveSubscriptionAsync(new DurableSubscription("s", "a.*", "q", DateTimeOffset.UtcNow));
            await Store(h).PublishAsync(new PublishedEvent("e", "a.b", "{}"));
        }
        await using var mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var keys = mux.GetServer(redis.Configuration).Keys(pattern: prefix + "*").Select(k => (string)k!).ToList();
        var transport = new RedisKeys(prefix).Transport;
        Assert.Contains(transport + "subscriptions", keys);
        Assert.Contains(transport + "m:e:s", keys);
        Assert.Single(keys.Select(k => mux.HashSlot(k)).Distinct());
    }

    [Theory]
    [InlineData("e1", "a.b", "{}")]
    [InlineData("12:34", "x", "")]
    [InlineData("ü", "ö.ä", "3:abc:")]
    public void Event_frames_round_trip(string id, string subject, string body)
    {
        var bytes = Encoding.UTF8.GetBytes($"{Encoding.UTF8.GetByteCount(id)}:{id}{Encoding.UTF8.GetByteCount(subject)}:{subject}{body}");
        Assert.True(RedisEventStore.TryParse(bytes, out var parsed));
        Assert.Equal(new PublishedEvent(id, subject, body), parsed);
        Assert.False(RedisEventStore.TryParse("5:ab"u8, out _));
        Assert.False(RedisEventStore.TryParse("x:ab"u8, out _));
        Assert.False(RedisEventStore.TryParse(""u8, out _));
    }

    [Fact]
    public async Task A_listener_started_here_hears_a_publish_made_here_right_after_without_probes()
    {
        await using var h = Fixtures.Redis(redis, new FakeTimeProvider(Start));
        var store = Store(h);
        for (var round = 0; round < 5; round++)
        {
            using var cts = new CancellationTokenSource(Bound);
            await using var events = store.ListenAsync(cts.Token).GetAsyncEnumerator(cts.Token);
            var first = events.MoveNextAsync().AsTask();   // subscribing: a publish of this store waits for it
            await store.PublishAsync(new PublishedEvent("e" + round, "alerts.disk.full", "body"));
            Assert.True(await first.WaitAsync(Bound));
            Assert.Equal(new PublishedEvent("e" + round, "alerts.disk.full", "body"), events.Current);
        }
    }
}
