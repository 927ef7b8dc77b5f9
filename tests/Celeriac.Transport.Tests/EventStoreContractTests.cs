using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// What every <see cref="IEventStore"/> must do, run against each store (a short subclass each: <see cref="Open"/>,
/// and <see cref="OpenSecond"/> where the store can be shared by processes). Durable subscriptions and fan-out use a
/// <see cref="FakeTimeProvider"/> and receive with a zero wait; live listeners use the real clock, with every wait
/// bounded by <see cref="Bound"/> (a passing test takes a fraction of a second).
/// </summary>
public abstract class EventStoreContractTests
{
    protected static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>A store (with its transport) on fresh, empty storage using <paramref name="time"/>.</summary>
    protected abstract TransportHarness Open(TimeProvider time);

    /// <summary>
    /// A second view of the storage of <paramref name="first"/>, as another process would have, using
    /// <c>first.Time</c> (the same harness when the store lives in one process). Disposed before <paramref name="first"/>.
    /// </summary>
    protected virtual TransportHarness OpenSecond(TransportHarness first) => first;

    protected static DurableSubscription Subscription(string name, string pattern, string? queue = null, DateTimeOffset? createdAt = null) =>
        new(name, pattern, queue ?? "q-" + name, createdAt ?? Start);

    protected static PublishedEvent Event(string id, string subject = "things.happened") =>
        new(id, subject, "{\"event\":\"" + id + "\"}");

    protected static async Task<IReadOnlyList<LeasedMessage>> ReceiveNow(TransportHarness h, string queue) =>
        await h.Transport.ReceiveAsync([queue], 100, Lease, TimeSpan.Zero);

    private static FakeTimeProvider Fake() => new(Start);

    private static string[] Sorted(IEnumerable<string> names) => [.. names.Order(StringComparer.Ordinal)];

    // ----- durable subscriptions -----

    [Fact]
    public async Task Subscriptions_are_saved_listed_by_name_replaced_keeping_created_at_and_deleted()
    {
        var time = Fake();
        await using var h = Open(time);
        var store = h.Events;
        Assert.Empty(await store.GetSubscriptionsAsync());

        await store.SaveSubscriptionAsync(Subscription("b", "users.*", "q1"));
        await store.SaveSubscriptionAsync(Subscription("a", "alerts.>", "q2", Start.AddMinutes(1)));
        Assert.Equal(
            [new DurableSubscription("a", "alerts.>", "q2", Start.AddMinutes(1)), new DurableSubscription("b", "users.*", "q1", Start)],
            await store.GetSubscriptionsAsync());

        time.Advance(TimeSpan.FromHours(1));
        await store.SaveSubscriptionAsync(Subscription("b", "orders.*", "q3", time.GetUtcNow()));
        Assert.Equal(new DurableSubscription("b", "orders.*", "q3", Start), (await store.GetSubscriptionsAsync())[1]);

        Assert.True(await store.DeleteSubscriptionAsync("a"));
        Assert.False(await store.DeleteSubscriptionAsync("a"));
        Assert.False(await store.DeleteSubscriptionAsync("never"));
        Assert.Equal(["b"], (await store.GetSubscriptionsAsync()).Select(s => s.Name));

        // Saved again after a delete: a new subscription, with the new creation time.
        await store.SaveSubscriptionAsync(Subscription("a", "alerts.>", "q2", time.GetUtcNow()));
        Assert.Equal(time.GetUtcNow(), (await store.GetSubscriptionsAsync())[0].CreatedAt);
    }

    [Theory]
    [InlineData("")]
    [InlineData("users.*x")]
    [InlineData("a.>.b")]
    [InlineData("a..b")]
    [InlineData("a b")]
    public async Task An_invalid_pattern_is_refused_and_nothing_is_saved(string pattern)
    {
        await using var h = Open(Fake());
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await h.Events.SaveSubscriptionAsync(Subscription("s", pattern)));
        Assert.Empty(await h.Events.GetSubscriptionsAsync());
    }

    [Fact]
    public async Task A_replaced_subscription_gets_events_by_its_new_pattern_into_its_new_queue()
    {
        await using var h = Open(Fake());
        var store = h.Events;
        await store.SaveSubscriptionAsync(Subscription("s", "a.*", "q-old"));
        await store.SaveSubscriptionAsync(Subscription("s", "b.*", "q-new"));

        Assert.Empty(await store.PublishAsync(Event("e1", "a.x")));
        Assert.Equal(["s"], await store.PublishAsync(Event("e2", "b.x")));
        Assert.Empty(await ReceiveNow(h, "q-old"));
        Assert.Equal(["e2:s"], (await ReceiveNow(h, "q-new")).Select(m => m.Id));
    }

    // ----- publish and fan-out -----

    [Fact]
    public async Task Publish_queues_the_event_for_exactly_the_matching_subscriptions()
    {
        await using var h = Open(Fake());
        var store = h.Events;
        await store.SaveSubscriptionAsync(Subscription("star", "users.*"));
        await store.SaveSubscriptionAsync(Subscription("tail", "users.>"));
        await store.SaveSubscriptionAsync(Subscription("exact", "users.created", "q-exact"));
        await store.SaveSubscriptionAsync(Subscription("twin", "users.created", "q-exact"));   // two on one subject, one queue
        await store.SaveSubscriptionAsync(Subscription("orders", "orders.*"));

        var e1 = Event("e1", "users.created");
        Assert.Equal(["exact", "star", "tail", "twin"], Sorted(await store.PublishAsync(e1)));
        Assert.Equal(["tail"], await store.PublishAsync(Event("e2", "users.eu.created")));
        Assert.Equal(["orders"], await store.PublishAsync(Event("e3", "orders.paid")));

        var star = Assert.Single(await ReceiveNow(h, "q-star"));
        Assert.Equal(("e1:star", "q-star", 0, e1.Body, 1), (star.Id, star.Queue, star.Priority, star.Body, star.DeliveryCount));
        var tail = await ReceiveNow(h, "q-tail");
        Assert.Equal(["e1:tail", "e2:tail"], tail.Select(m => m.Id));
        Assert.Equal([e1.Body, Event("e2").Body], tail.Select(m => m.Body));
        var exact = await ReceiveNow(h, "q-exact");
        Assert.Equal(["e1:exact", "e1:twin"], Sorted(exact.Select(m => m.Id)));
        Assert.All(exact, m => Assert.Equal(e1.Body, m.Body));
        Assert.Equal(["e3:orders"], (await ReceiveNow(h, "q-orders")).Select(m => m.Id));

        foreach (var m in new[] { star }.Concat(tail).Concat(exact))
            Assert.True(await h.Transport.AckAsync(m));
        Assert.Empty(await ReceiveNow(h, "q-star"));
        Assert.Empty(await ReceiveNow(h, "q-exact"));
    }

    [Fact]
    public async Task A_publish_that_matches_nothing_returns_empty_and_queues_nothing()
    {
        await using var h = Open(Fake());
        var store = h.Events;
        Assert.Empty(await store.PublishAsync(Event("e0", "users.created")));   // no subscriptions at all

        await store.SaveSubscriptionAsync(Subscription("star", "users.*"));
        await store.SaveSubscriptionAsync(Subscription("tail", "users.>"));
        await store.SaveSubscriptionAsync(Subscription("exact", "orders.created"));
        Assert.Empty(await store.PublishAsync(Event("e1", "users")));                 // '>' needs at least one more token
        Assert.Empty(await store.PublishAsync(Event("e2", "orders.created.late")));   // exact is exact
        Assert.Empty(await store.PublishAsync(Event("e3", "audit.users.created")));

        var stats = await h.Transport.GetQueueStatsAsync();
        Assert.Equal(0, stats.Sum(s => s.Ready + s.Delayed + s.Leased));
        foreach (var queue in new[] { "q-star", "q-tail", "q-exact" }) Assert.Empty(await ReceiveNow(h, queue));
    }

    [Fact]
    public async Task A_subscription_gets_only_what_is_published_while_it_exists_and_keeps_what_was_queued()
    {
        await using var h = Open(Fake());
        var store = h.Events;
        Assert.Empty(await store.PublishAsync(Event("e1", "users.created")));
        await store.SaveSubscriptionAsync(Subscription("late", "users.*"));
        Assert.Empty(await ReceiveNow(h, "q-late"));                                   // not delivered retroactively

        Assert.Equal(["late"], await store.PublishAsync(Event("e2", "users.created")));
        Assert.True(await store.DeleteSubscriptionAsync("late"));
        Assert.Empty(await store.PublishAsync(Event("e3", "users.created")));
        Assert.Equal(["e2:late"], (await ReceiveNow(h, "q-late")).Select(m => m.Id));  // queued before the delete: kept
    }

    [Fact]
    public async Task A_subscription_saved_by_one_instance_gets_events_published_by_another()
    {
        await using var a = Open(Fake());
        await using var b = OpenSecond(a);
        await b.Events.SaveSubscriptionAsync(Subscription("remote", "sensors.>"));
        Assert.Equal(["remote"], (await a.Events.GetSubscriptionsAsync()).Select(s => s.Name));

        Assert.Equal(["remote"], await a.Events.PublishAsync(Event("e1", "sensors.t1.temp")));
        var m = Assert.Single(await ReceiveNow(b, "q-remote"));
        Assert.Equal(("e1:remote", Event("e1").Body), (m.Id, m.Body));
        Assert.True(await b.Transport.AckAsync(m));

        Assert.True(await a.Events.DeleteSubscriptionAsync("remote"));
        Assert.Empty(await b.Events.PublishAsync(Event("e2", "sensors.t1.temp")));
    }

    // ----- live listeners (real clock) -----

    [Fact]
    public async Task A_listener_gets_only_events_published_after_it_started_in_order_from_another_instance()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        await b.Events.PublishAsync(Event("before"));

        await using var listener = new Listener(a.Events);
        await listener.ReadyAsync(b.Events);
        for (var i = 1; i <= 10; i++) await b.Events.PublishAsync(Event("e" + i, "things.n" + i));

        var got = await listener.TakeAsync(10);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => "e" + i), got.Select(e => e.Id));
        Assert.Equal(Event("e3", "things.n3"), got[2]);
    }

    [Fact]
    public async Task Two_listeners_both_get_every_event_in_publish_order()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        await using var onA = new Listener(a.Events);
        await using var onB = new Listener(b.Events);
        await onA.ReadyAsync(b.Events);
        await onB.ReadyAsync(a.Events);

        for (var i = 1; i <= 20; i++) await (i % 2 == 0 ? a : b).Events.PublishAsync(Event("e" + i));

        string[] expected = [.. Enumerable.Range(1, 20).Select(i => "e" + i)];
        Assert.Equal(expected, (await onA.TakeAsync(20)).Select(e => e.Id));
        Assert.Equal(expected, (await onB.TakeAsync(20)).Select(e => e.Id));
    }

    [Fact]
    public async Task Many_concurrent_publishes_reach_every_listener_once_each_in_one_order()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        await using var onA = new Listener(a.Events);
        await using var onB = new Listener(b.Events);
        await onA.ReadyAsync(b.Events);
        await onB.ReadyAsync(a.Events);

        const int count = 600;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < count; i += 8) await (w % 2 == 0 ? a : b).Events.PublishAsync(Event("e" + i));
        })));

        var seenA = (await onA.TakeAsync(count)).Select(e => e.Id).ToArray();
        var seenB = (await onB.TakeAsync(count)).Select(e => e.Id).ToArray();
        Assert.Equal(Enumerable.Range(0, count).Select(i => "e" + i).Order(StringComparer.Ordinal), seenA.Order(StringComparer.Ordinal));
        Assert.Equal(seenA, seenB);
    }

    [Fact]
    public async Task Cancelling_a_waiting_listener_ends_it_promptly_and_the_store_keeps_working()
    {
        await using var h = Open(TimeProvider.System);
        var stopped = new Listener(h.Events);
        await stopped.ReadyAsync(h.Events);

        var ended = System.Diagnostics.Stopwatch.StartNew();
        await stopped.DisposeAsync();                 // cancels while it waits in MoveNextAsync
        Assert.InRange(ended.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        Assert.Null(stopped.Fault);                   // ended, or ended with OperationCanceledException: nothing else

        Assert.Empty(await h.Events.PublishAsync(Event("after-stop")));
        await using var next = new Listener(h.Events);
        await next.ReadyAsync(h.Events);
        await h.Events.PublishAsync(Event("e1"));
        Assert.Equal(["e1"], (await next.TakeAsync(1)).Select(e => e.Id));
    }

    [Fact]
    public async Task Cancelling_ends_an_enumeration_awaited_directly()
    {
        await using var h = Open(TimeProvider.System);
        using var cancel = new CancellationTokenSource();
        var enumerator = h.Events.ListenAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        try
        {
            var move = enumerator.MoveNextAsync().AsTask();
            cancel.CancelAfter(TimeSpan.FromMilliseconds(50));
            var error = await Record.ExceptionAsync(() => move.WaitAsync(Bound));
            if (error is null) Assert.False(await move);
            else Assert.IsAssignableFrom<OperationCanceledException>(error);
        }
        finally
        {
            await enumerator.DisposeAsync();
        }
    }

    /// <summary>
    /// Runs <see cref="IEventStore.ListenAsync"/> in the background into a channel. <see cref="ReadyAsync"/> publishes
    /// probe events until one arrives, so a store whose listener becomes live a little after the call (a server
    /// subscription) is live before the test publishes; <see cref="TakeAsync"/> skips the probes.
    /// </summary>
    protected sealed class Listener : IAsyncDisposable
    {
        private const string ProbeSubject = "probe.listener";
        private static int _probes;
        private readonly Channel<PublishedEvent> _events = Channel.CreateUnbounded<PublishedEvent>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        public Listener(IEventStore store)
        {
            // The first MoveNextAsync runs here, so a store that registers its listener there has done so on return.
            var enumerator = store.ListenAsync(_stop.Token).GetAsyncEnumerator(_stop.Token);
            _run = PumpAsync(enumerator, enumerator.MoveNextAsync());
        }

        private async Task PumpAsync(IAsyncEnumerator<PublishedEvent> enumerator, ValueTask<bool> first)
        {
            try
            {
                var move = first;
                while (await move.ConfigureAwait(false))
                {
                    _events.Writer.TryWrite(enumerator.Current);
                    move = enumerator.MoveNextAsync();
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Fault = e;
            }
            finally
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
                _events.Writer.TryComplete(Fault);
            }
        }

        /// <summary>What ended the enumeration, other than cancellation.</summary>
        public Exception? Fault { get; private set; }

        public async Task ReadyAsync(IEventStore publisher)
        {
            var deadline = DateTime.UtcNow + Bound;
            while (true)
            {
                var n = Interlocked.Increment(ref _probes);
                await publisher.PublishAsync(new PublishedEvent("probe-" + n, ProbeSubject, "{}"));
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
                try
                {
                    while (true)
                        if ((await _events.Reader.ReadAsync(wait.Token)).Subject == ProbeSubject) return;
                }
                catch (OperationCanceledException) when (wait.IsCancellationRequested)
                {
                }
                if (DateTime.UtcNow > deadline) throw new TimeoutException("The listener did not become live in time.");
            }
        }

        /// <summary>The next <paramref name="count"/> events that are not probes; fails after <see cref="Bound"/>.</summary>
        public async Task<IReadOnlyList<PublishedEvent>> TakeAsync(int count)
        {
            var got = new List<PublishedEvent>(count);
            using var wait = new CancellationTokenSource(Bound);
            try
            {
                while (got.Count < count)
                {
                    var e = await _events.Reader.ReadAsync(wait.Token);
                    if (e.Subject != ProbeSubject) got.Add(e);
                }
            }
            catch (OperationCanceledException) when (wait.IsCancellationRequested)
            {
                throw new TimeoutException($"Got {got.Count} of {count} events in time: {string.Join(", ", got.Select(e => e.Id))}");
            }
            return got;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run.WaitAsync(Bound);
            _stop.Dispose();
        }
    }
}
