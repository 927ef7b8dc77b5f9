using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// The contract every <see cref="ITaskTransport"/> and <see cref="IResultStore"/> keeps. Each transport's test class
/// is a one-line subclass that supplies a fresh fixture; a test added here runs for every transport.
/// Tests about time use a <see cref="FakeTimeProvider"/> and receive with a zero wait; tests about waking use real
/// time, bounded by <see cref="Bound"/>.
/// </summary>
public abstract class TransportContractTests
{
    protected static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>A transport and result store on fresh, empty storage using <paramref name="time"/>.</summary>
    protected abstract TransportHarness Open(TimeProvider time);

    protected static OutgoingMessage Message(string id, string queue = "q", int priority = 0, DateTimeOffset? visibleAt = null, string? key = null, DateTimeOffset? keyExpiresAt = null) =>
        new(id, queue, priority, "body-" + id, visibleAt, key, keyExpiresAt);

    protected static async Task<IReadOnlyList<LeasedMessage>> ReceiveNow(TransportHarness h, string queue = "q", int max = 10, TimeSpan? lease = null) =>
        await h.Transport.ReceiveAsync([queue], max, lease ?? Lease, TimeSpan.Zero);

    protected static async Task<QueueStats> StatsOf(TransportHarness h, string queue) =>
        (await h.Transport.GetQueueStatsAsync()).FirstOrDefault(s => s.Queue == queue) ?? new QueueStats(queue, 0, 0, 0, 0);

    private static FakeTimeProvider Fake() => new(Start);

    [Fact]
    public async Task Send_receive_ack()
    {
        var time = Fake();
        await using var h = Open(time);
        Assert.Equal(["a"], await h.Transport.EnqueueAsync([Message("a", priority: 3)]));

        var received = Assert.Single(await ReceiveNow(h));
        Assert.Equal(("a", "q", 3, "body-a", 1), (received.Id, received.Queue, received.Priority, received.Body, received.DeliveryCount));
        Assert.Empty(await ReceiveNow(h));

        Assert.True(await h.Transport.AckAsync(received));
        Assert.False(await h.Transport.AckAsync(received));
        time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await ReceiveNow(h));
    }

    [Fact]
    public async Task Enqueue_of_a_batch_returns_every_id_in_order()
    {
        await using var h = Open(Fake());
        Assert.Equal(["a", "b", "c"], await h.Transport.EnqueueAsync([Message("a"), Message("b"), Message("c")]));
        Assert.Equal(["a", "b", "c"], (await ReceiveNow(h)).Select(m => m.Id));
    }

    [Fact]
    public async Task Receive_returns_empty_after_max_wait()
    {
        await using var h = Open(TimeProvider.System);
        var clock = Stopwatch.StartNew();
        var received = await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromMilliseconds(200)).AsTask().WaitAsync(Bound);
        Assert.Empty(received);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(150), Bound);
    }

    [Fact]
    public async Task Expired_lease_redelivers_with_a_higher_delivery_count()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a")]);
        Assert.Equal(1, Assert.Single(await ReceiveNow(h)).DeliveryCount);

        time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.Empty(await ReceiveNow(h));
        time.Advance(TimeSpan.FromSeconds(2));
        var again = Assert.Single(await ReceiveNow(h));
        Assert.Equal(("a", "body-a", 2), (again.Id, again.Body, again.DeliveryCount));
    }

    [Fact]
    public async Task Stale_lease_is_rejected_after_redelivery()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a")]);
        var first = Assert.Single(await ReceiveNow(h));
        time.Advance(Lease + TimeSpan.FromSeconds(1));
        var second = Assert.Single(await ReceiveNow(h));
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);

        Assert.False(await h.Transport.AckAsync(first));
        Assert.Equal([first], await h.Transport.RenewAsync([first], Lease));
        Assert.False(await h.Transport.ReleaseAsync(first, null, "stale"));
        Assert.False(await h.Transport.DeadLetterAsync(first, new DeadLetterInfo("failed", null, "stale", null)));
        Assert.Empty(await h.Transport.GetDeadLettersAsync(10));

        Assert.True(await h.Transport.AckAsync(second));
    }

    [Fact]
    public async Task Renew_keeps_the_message_hidden()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a")]);
        var lease = TimeSpan.FromSeconds(10);
        var m = Assert.Single(await ReceiveNow(h, lease: lease));

        time.Advance(TimeSpan.FromSeconds(8));
        Assert.Empty(await h.Transport.RenewAsync([m], lease));
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.Empty(await ReceiveNow(h));
        Assert.Equal(1, (await StatsOf(h, "q")).Leased);

        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(2, Assert.Single(await ReceiveNow(h)).DeliveryCount);
    }

    [Fact]
    public async Task Release_with_a_new_body_and_a_later_visibility()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a")]);
        var m = Assert.Single(await ReceiveNow(h));

        Assert.True(await h.Transport.ReleaseAsync(m, time.GetUtcNow() + TimeSpan.FromMinutes(1), "retry-1"));
        Assert.False(await h.Transport.AckAsync(m));
        Assert.Empty(await ReceiveNow(h));
        Assert.Equal(new QueueStats("q", 0, 1, 0, 0), await StatsOf(h, "q"));

        time.Advance(TimeSpan.FromMinutes(1));
        var retried = Assert.Single(await ReceiveNow(h));
        Assert.Equal(("retry-1", 2), (retried.Body, retried.DeliveryCount));

        // Released now without a body: visible at once, body kept.
        Assert.True(await h.Transport.ReleaseAsync(retried, null, null));
        var again = Assert.Single(await ReceiveNow(h));
        Assert.Equal(("retry-1", 3), (again.Body, again.DeliveryCount));
    }

    [Fact]
    public async Task Delayed_message_is_invisible_until_due()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("later", visibleAt: Start + TimeSpan.FromMinutes(5)), Message("now")]);
        var now = Assert.Single(await ReceiveNow(h));
        Assert.Equal("now", now.Id);
        Assert.True(await h.Transport.AckAsync(now));
        Assert.Equal(new QueueStats("q", 0, 1, 0, 0), await StatsOf(h, "q"));

        time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Empty(await ReceiveNow(h));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["later"], (await ReceiveNow(h)).Select(m => m.Id));
    }

    [Fact]
    public async Task Waiting_receive_wakes_when_another_sender_enqueues()
    {
        await using var h = Open(TimeProvider.System);
        var clock = Stopwatch.StartNew();
        var receive = h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask();
        Assert.False(receive.IsCompleted);

        await Task.Run(async () => await h.Transport.EnqueueAsync([Message("a")]));
        var received = await receive.WaitAsync(Bound);
        Assert.Equal("a", Assert.Single(received).Id);
        Assert.True(clock.Elapsed < Bound);
    }

    [Fact]
    public async Task Waiting_receive_wakes_when_a_delayed_message_comes_due()
    {
        await using var h = Open(TimeProvider.System);
        await h.Transport.EnqueueAsync([Message("a", visibleAt: DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(300))]);
        var clock = Stopwatch.StartNew();
        var received = await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask().WaitAsync(Bound);
        Assert.Equal("a", Assert.Single(received).Id);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(200), Bound);
    }

    [Fact]
    public async Task Waiting_receive_wakes_when_a_lease_runs_out()
    {
        await using var h = Open(TimeProvider.System);
        await h.Transport.EnqueueAsync([Message("a")]);
        var first = Assert.Single(await h.Transport.ReceiveAsync(["q"], 10, TimeSpan.FromMilliseconds(300), TimeSpan.Zero));
        var clock = Stopwatch.StartNew();
        var again = Assert.Single(await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask().WaitAsync(Bound));
        Assert.Equal(("a", 2), (again.Id, again.DeliveryCount));
        Assert.NotEqual(first.LeaseToken, again.LeaseToken);
        Assert.True(clock.Elapsed < Bound);
    }

    [Fact]
    public async Task Waiting_receive_honours_cancellation()
    {
        await using var h = Open(TimeProvider.System);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var receive = h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30), cancel.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receive.WaitAsync(Bound));
    }

    [Fact]
    public async Task Dead_letter_keeps_the_reason_and_is_listed_newest_first()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a")]);
        var a = Assert.Single(await ReceiveNow(h));
        var info = new DeadLetterInfo("max-retries", "TimeoutException", "vendor timed out", "at Vendor.Poll()");
        Assert.True(await h.Transport.DeadLetterAsync(a, info));
        Assert.False(await h.Transport.AckAsync(a));

        var dead = Assert.Single(await h.Transport.GetDeadLettersAsync(10));
        Assert.Equal(("a", "q", "body-a", 1, info, Start), (dead.Id, dead.Queue, dead.Body, dead.DeliveryCount, dead.Info, dead.FailedAt));
        time.Advance(Lease * 2);
        Assert.Empty(await ReceiveNow(h));

        await h.Transport.EnqueueAsync([Message("b")]);
        var b = Assert.Single(await ReceiveNow(h));
        Assert.True(await h.Transport.DeadLetterAsync(b, new DeadLetterInfo("malformed", null, "not json", null)));
        Assert.Equal(["b", "a"], (await h.Transport.GetDeadLettersAsync(10)).Select(d => d.Id));
        Assert.Equal(["b"], (await h.Transport.GetDeadLettersAsync(1)).Select(d => d.Id));
        Assert.Equal(2, (await StatsOf(h, "q")).DeadLetters);
    }

    /// <summary>Sends <paramref name="id"/> to <paramref name="queue"/>, receives it and dead-letters it with <paramref name="reason"/>.</summary>
    protected static async Task BuryAsync(TransportHarness h, string id, string queue = "q", string reason = "max-retries")
    {
        await h.Transport.EnqueueAsync([Message(id, queue, priority: 5)]);
        var taken = Assert.Single(await ReceiveNow(h, queue));
        Assert.True(await h.Transport.DeadLetterAsync(taken, new DeadLetterInfo(reason, "TimeoutException", "timed out " + id, "at Poll()")));
    }

    [Fact]
    public async Task Dead_letter_is_found_by_id()
    {
        var time = Fake();
        await using var h = Open(time);
        await BuryAsync(h, "a");
        time.Advance(TimeSpan.FromSeconds(1));
        await BuryAsync(h, "b", queue: "other", reason: "bad-arguments");

        var a = await h.Transport.GetDeadLetterAsync("a");
        Assert.NotNull(a);
        Assert.Equal(("a", "q", "body-a", 1, "max-retries", "TimeoutException", "timed out a", "at Poll()", Start),
            (a.Id, a.Queue, a.Body, a.DeliveryCount, a.Info.Reason, a.Info.ErrorType, a.Info.ErrorMessage, a.Info.StackTrace, a.FailedAt));
        var b = await h.Transport.GetDeadLetterAsync("b");
        Assert.Equal(("other", "bad-arguments", Start.AddSeconds(1)), (b!.Queue, b.Info.Reason, b.FailedAt));
        Assert.Null(await h.Transport.GetDeadLetterAsync("nope"));
        // A message id that is a prefix of another is not confused with it.
        Assert.Null(await h.Transport.GetDeadLetterAsync("b-"));
    }

    [Fact]
    public async Task Requeue_of_a_dead_letter_makes_it_a_fresh_ready_message_on_its_queue()
    {
        var time = Fake();
        await using var h = Open(time);
        await BuryAsync(h, "a", queue: "io");
        await BuryAsync(h, "b", queue: "io");
        Assert.Equal(2, (await StatsOf(h, "io")).DeadLetters);

        Assert.True(await h.Transport.RequeueDeadLetterAsync("a", "fixed-a"));
        Assert.Null(await h.Transport.GetDeadLetterAsync("a"));
        Assert.Equal(["b"], (await h.Transport.GetDeadLettersAsync(10)).Select(d => d.Id));
        var stats = await StatsOf(h, "io");
        Assert.Equal((1L, 1L), (stats.Ready, stats.DeadLetters));

        var again = Assert.Single(await ReceiveNow(h, "io"));
        Assert.Equal(("a", "io", "fixed-a", 1), (again.Id, again.Queue, again.Body, again.DeliveryCount));
        Assert.True(await h.Transport.AckAsync(again));

        // Gone already: nothing to requeue, nothing changes.
        Assert.False(await h.Transport.RequeueDeadLetterAsync("a", "twice"));
        Assert.Empty(await ReceiveNow(h, "io"));
        Assert.False(await h.Transport.RequeueDeadLetterAsync("nope", "x"));
    }

    [Fact]
    public async Task Requeued_message_wakes_a_waiting_receiver()
    {
        await using var h = Open(TimeProvider.System);
        await BuryAsync(h, "a");
        var receive = h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask();
        Assert.True(await h.Transport.RequeueDeadLetterAsync("a", "again"));
        var got = Assert.Single(await receive.WaitAsync(Bound));
        Assert.Equal(("a", "again"), (got.Id, got.Body));
    }

    [Fact]
    public async Task Requeued_message_can_fail_again_and_be_requeued_again()
    {
        await using var h = Open(Fake());
        await BuryAsync(h, "a");
        Assert.True(await h.Transport.RequeueDeadLetterAsync("a", "second"));
        var second = Assert.Single(await ReceiveNow(h));
        Assert.True(await h.Transport.DeadLetterAsync(second, new DeadLetterInfo("failed", "X", "again", null)));
        var letter = Assert.Single(await h.Transport.GetDeadLettersAsync(10));
        Assert.Equal(("a", "second", "failed"), (letter.Id, letter.Body, letter.Info.Reason));
        Assert.Equal(1, (await StatsOf(h, "q")).DeadLetters);
    }

    [Fact]
    public async Task Delete_of_a_dead_letter_removes_it_and_its_count()
    {
        await using var h = Open(Fake());
        await BuryAsync(h, "a");
        await BuryAsync(h, "b");
        Assert.True(await h.Transport.DeleteDeadLetterAsync("a"));
        Assert.False(await h.Transport.DeleteDeadLetterAsync("a"));
        Assert.False(await h.Transport.DeleteDeadLetterAsync("nope"));
        Assert.Equal(["b"], (await h.Transport.GetDeadLettersAsync(10)).Select(d => d.Id));
        Assert.Null(await h.Transport.GetDeadLetterAsync("a"));
        Assert.Equal(1, (await StatsOf(h, "q")).DeadLetters);
        Assert.Empty(await ReceiveNow(h));
    }

    [Fact]
    public async Task Idempotency_key_drops_duplicates_until_the_window_ends()
    {
        var time = Fake();
        await using var h = Open(time);
        var window = Start + TimeSpan.FromHours(1);
        Assert.Equal(["a"], await h.Transport.EnqueueAsync([Message("a", key: "k", keyExpiresAt: window)]));
        Assert.Equal(["a"], await h.Transport.EnqueueAsync([Message("b", key: "k", keyExpiresAt: window)]));
        Assert.Equal(["x", "x"], await h.Transport.EnqueueAsync([Message("x", key: "k2", keyExpiresAt: window), Message("y", key: "k2", keyExpiresAt: window)]));
        Assert.Equal(["a", "x"], (await ReceiveNow(h, lease: TimeSpan.FromDays(1))).Select(m => m.Id));

        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(["c"], await h.Transport.EnqueueAsync([Message("c", key: "k", keyExpiresAt: time.GetUtcNow() + TimeSpan.FromHours(1))]));
        Assert.Equal(["c"], await h.Transport.EnqueueAsync([Message("d", key: "k", keyExpiresAt: time.GetUtcNow() + TimeSpan.FromHours(1))]));
        Assert.Equal(["c"], (await ReceiveNow(h)).Select(m => m.Id));
    }

    [Fact]
    public async Task Higher_priority_first_and_first_in_first_out_within_a_priority()
    {
        await using var h = Open(Fake());
        await h.Transport.EnqueueAsync([Message("a"), Message("d", priority: 5), Message("f", priority: 1), Message("b"), Message("e", priority: 5), Message("c")]);
        Assert.Equal(["d", "e", "f", "a"], (await ReceiveNow(h, max: 4)).Select(m => m.Id));
        Assert.Equal(["b"], (await ReceiveNow(h, max: 1)).Select(m => m.Id));
        await h.Transport.EnqueueAsync([Message("g", priority: 2)]);
        Assert.Equal(["g", "c"], (await ReceiveNow(h)).Select(m => m.Id));
    }

    [Fact]
    public async Task Receives_from_several_queues_by_priority_and_only_those()
    {
        await using var h = Open(Fake());
        await h.Transport.EnqueueAsync([Message("a", queue: "q1"), Message("b", queue: "q2", priority: 1), Message("c", queue: "q3"), Message("d", queue: "q1")]);
        var both = await h.Transport.ReceiveAsync(["q1", "q2"], 10, Lease, TimeSpan.Zero);
        Assert.Equal([("b", "q2"), ("a", "q1"), ("d", "q1")], both.Select(m => (m.Id, m.Queue)));
        Assert.Empty(await h.Transport.ReceiveAsync(["q1", "q2"], 10, Lease, TimeSpan.Zero));
        Assert.Equal(["c"], (await ReceiveNow(h, "q3")).Select(m => m.Id));

        // Naming a queue twice does not deliver its messages twice.
        await h.Transport.EnqueueAsync([Message("e", queue: "q1")]);
        Assert.Equal(["e"], (await h.Transport.ReceiveAsync(["q1", "q1"], 10, Lease, TimeSpan.Zero)).Select(m => m.Id));
    }

    [Fact]
    public async Task Purge_removes_only_unleased_messages_of_that_queue()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("a"), Message("b"), Message("c", visibleAt: Start + TimeSpan.FromMinutes(1)), Message("d", queue: "other")]);
        var leased = Assert.Single(await ReceiveNow(h, max: 1, lease: TimeSpan.FromHours(1)));

        Assert.Equal(2, await h.Transport.PurgeAsync("q"));
        Assert.Equal(0, await h.Transport.PurgeAsync("missing"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(await ReceiveNow(h));
        Assert.True(await h.Transport.AckAsync(leased));
        Assert.Equal(["d"], (await ReceiveNow(h, "other")).Select(m => m.Id));
    }

    [Fact]
    public async Task Remove_deletes_a_waiting_message_but_not_a_leased_one()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("leased"), Message("ready"), Message("later", visibleAt: Start + TimeSpan.FromMinutes(1))]);
        var leased = Assert.Single(await ReceiveNow(h, max: 1, lease: TimeSpan.FromHours(1)));
        Assert.Equal("leased", leased.Id);

        Assert.Equal("body-ready", await h.Transport.RemoveAsync("ready"));
        Assert.Equal("body-later", await h.Transport.RemoveAsync("later"));
        Assert.Null(await h.Transport.RemoveAsync("leased"));
        Assert.Null(await h.Transport.RemoveAsync("unknown"));
        Assert.Null(await h.Transport.RemoveAsync("ready"));

        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(await ReceiveNow(h));
        Assert.True(await h.Transport.AckAsync(leased));
    }

    [Fact]
    public async Task Queue_stats_count_ready_delayed_leased_and_dead()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("leased"), Message("dead")]);
        var taken = await ReceiveNow(h, max: 2, lease: TimeSpan.FromHours(1));
        Assert.True(await h.Transport.DeadLetterAsync(taken.Single(m => m.Id == "dead"), new DeadLetterInfo("failed", "X", "x", null)));
        await h.Transport.EnqueueAsync([Message("r1"), Message("r2"), Message("later", visibleAt: Start + TimeSpan.FromMinutes(1)), Message("o", queue: "other")]);

        Assert.Equal(new QueueStats("q", 2, 1, 1, 1, Start), await StatsOf(h, "q"));
        Assert.Equal(new QueueStats("other", 1, 0, 0, 0, Start), await StatsOf(h, "other"));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(3, (await StatsOf(h, "q")).Ready);
        Assert.Equal(Start, (await StatsOf(h, "q")).OldestReadyAt);

        // The head of the queue: once r1 and r2 are taken, the next is "later", enqueued at Start too; then none.
        await ReceiveNow(h, max: 3, lease: TimeSpan.FromHours(1));
        Assert.Null((await StatsOf(h, "q")).OldestReadyAt);
    }

    [Fact]
    public async Task Queue_stats_tell_when_the_head_of_the_queue_was_enqueued()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Transport.EnqueueAsync([Message("first")]);
        time.Advance(TimeSpan.FromSeconds(30));
        await h.Transport.EnqueueAsync([Message("second")]);
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(Start, (await StatsOf(h, "q")).OldestReadyAt);
        var first = Assert.Single(await ReceiveNow(h, max: 1));
        Assert.Equal("first", first.Id);
        Assert.Equal(Start + TimeSpan.FromSeconds(30), (await StatsOf(h, "q")).OldestReadyAt);
    }

    [Fact]
    public async Task Concurrent_receivers_never_get_the_same_message_while_it_is_leased()
    {
        await using var h = Open(TimeProvider.System);
        const int count = 300;
        for (var i = 0; i < count; i += 50)
            await h.Transport.EnqueueAsync([.. Enumerable.Range(i, 50).Select(n => Message("m" + n))]);

        var seen = await Fixtures.ReceiveAllConcurrentlyAsync(Enumerable.Repeat(h.Transport, 4), batch: 7).WaitAsync(Bound);

        Assert.Equal(count, seen.Count);
        Assert.Equal(count, seen.Distinct().Count());
    }

    [Fact]
    public async Task Result_store_sets_replaces_and_gets()
    {
        await using var h = Open(Fake());
        Assert.Null(await h.Results.GetAsync("t1"));

        var started = new TaskResult("t1", "devices.poll", TaskStates.Started, null, null, 0, Start);
        await h.Results.SetAsync(started, Start + TimeSpan.FromDays(1));
        Assert.Equal(started, await h.Results.GetAsync("t1"));

        var failed = new TaskResult("t1", "devices.poll", TaskStates.Failure, null, new TaskError("TimeoutException", "slow", "at X()"), 2, Start + TimeSpan.FromSeconds(1));
        await h.Results.SetAsync(failed, Start + TimeSpan.FromDays(1));
        Assert.Equal(failed, await h.Results.GetAsync("t1"));

        var success = new TaskResult("t2", "sum", TaskStates.Success, "{\"total\":42}", null, 0, Start);
        await h.Results.SetAsync(success, null);
        Assert.Equal(success, await h.Results.GetAsync("t2"));
    }

    [Fact]
    public async Task Expired_result_reads_as_missing()
    {
        var time = Fake();
        await using var h = Open(time);
        await h.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Success, "1", null, 0, Start), Start + TimeSpan.FromMinutes(1));
        await h.Results.SetAsync(new TaskResult("t2", "x", TaskStates.Success, "2", null, 0, Start), null);

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.NotNull(await h.Results.GetAsync("t1"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await h.Results.GetAsync("t1"));
        time.Advance(TimeSpan.FromDays(30));
        Assert.NotNull(await h.Results.GetAsync("t2"));
    }

    [Fact]
    public async Task Result_wait_wakes_on_a_terminal_write()
    {
        await using var h = Open(TimeProvider.System);
        var wait = h.Results.WaitAsync("t1", TimeSpan.FromSeconds(30)).AsTask();
        Assert.False(wait.IsCompleted);

        await h.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Started, null, null, 0, DateTimeOffset.UtcNow), null);
        await h.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Success, "7", null, 0, DateTimeOffset.UtcNow), null);
        var result = await wait.WaitAsync(Bound);
        Assert.Equal((TaskStates.Success, "7"), (result?.State, result?.Result));
    }

    [Fact]
    public async Task Result_wait_returns_the_latest_record_at_its_timeout()
    {
        await using var h = Open(TimeProvider.System);
        Assert.Null(await h.Results.WaitAsync("none", TimeSpan.FromMilliseconds(50)).AsTask().WaitAsync(Bound));
        await h.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Started, null, null, 0, DateTimeOffset.UtcNow), null);
        var result = await h.Results.WaitAsync("t1", TimeSpan.FromMilliseconds(100)).AsTask().WaitAsync(Bound);
        Assert.Equal(TaskStates.Started, result?.State);
    }
}
