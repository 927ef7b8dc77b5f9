using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// What every <see cref="IChannelLayer"/> must do, run against each layer (a short subclass each: <see cref="Open"/>,
/// and <see cref="OpenSecond"/> where the layer is shared by processes). Offsets, history and membership use a
/// <see cref="FakeTimeProvider"/>; subscriptions use real time, every wait bounded by <see cref="Bound"/> (a passing
/// test takes a fraction of a second).
/// </summary>
public abstract class ChannelLayerContractTests
{
    protected static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>A layer on fresh, empty storage using <paramref name="time"/> and options changed by <paramref name="configure"/>.</summary>
    protected abstract ChannelLayerHarness Open(TimeProvider time, Action<ChannelLayerOptions>? configure = null);

    /// <summary>
    /// A second layer on the storage of <paramref name="first"/>, as another process would have (the same layer, not
    /// owned, when the layer lives in one process). Disposed before <paramref name="first"/>.
    /// </summary>
    protected virtual ChannelLayerHarness OpenSecond(ChannelLayerHarness first) => first.View();

    /// <summary>
    /// Whether the history window is measured by the server (Redis <c>PEXPIRE</c>) rather than the injected clock: the
    /// window test then waits in real time for the history to go.
    /// </summary>
    protected virtual bool WindowOnServerClock => false;

    private static FakeTimeProvider Fake() => new(Start);

    protected static object Msg(int n, string type = "test.message") => new { type, n, text = "a:b:ü \"q\"\n" + n };

    protected static int N(GroupMessage m) => m.Message.GetProperty("n").GetInt32();

    protected static async Task<GroupMessage[]> SendAsync(IChannelLayer layer, string group, params int[] ns)
    {
        var sent = new GroupMessage[ns.Length];
        for (var i = 0; i < ns.Length; i++) sent[i] = await layer.GroupSendAsync(group, Msg(ns[i]));
        return sent;
    }

    /// <summary>Checks a history read (records compare their message lists by reference, so field by field).</summary>
    protected static void AssertHistory(bool complete, long last, int[] ns, GroupHistory actual)
    {
        Assert.True((complete, last) == (actual.Complete, actual.LastOffset), $"expected complete {complete}, last {last}; got {actual.Complete}, {actual.LastOffset}");
        Assert.Equal(ns, actual.Messages.Select(N));
    }

    protected static void AssertSame(GroupMessage expected, GroupMessage actual)
    {
        Assert.Equal((expected.Group, expected.Offset, expected.Type, expected.SentAt), (actual.Group, actual.Offset, actual.Type, actual.SentAt));
        Assert.Equal(expected.Message.GetRawText(), actual.Message.GetRawText());
    }

    // ----- send and offsets -----

    [Fact]
    public async Task Offsets_run_1_to_n_per_group_independently_of_other_groups()
    {
        var time = Fake();
        await using var h = Open(time);
        var layer = h.Layer;
        var a = new List<GroupMessage>();
        var b = new List<GroupMessage>();
        for (var i = 1; i <= 5; i++)
        {
            a.Add(await layer.GroupSendAsync("room-a", Msg(i)));
            if (i % 2 == 1) b.Add(await layer.GroupSendAsync("room_b.2", Msg(10 * i, "other.kind")));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal([1L, 2, 3, 4, 5], a.Select(m => m.Offset));
        Assert.Equal([1L, 2, 3], b.Select(m => m.Offset));

        var first = a[0];
        Assert.Equal(("room-a", "test.message", Start, 1), (first.Group, first.Type, first.SentAt, N(first)));
        Assert.Equal(JsonSerializer.Serialize(Msg(1), new JsonSerializerOptions(JsonSerializerDefaults.Web)), first.Message.GetRawText());
        Assert.Equal(("other.kind", Start.AddSeconds(2)), (b[1].Type, b[1].SentAt));

        var history = await layer.ReadHistoryAsync("room-a", 0);
        Assert.True(history.Complete);
        Assert.Equal(5, history.LastOffset);
        Assert.Equal(a.Count, history.Messages.Count);
        for (var i = 0; i < a.Count; i++) AssertSame(a[i], history.Messages[i]);
        var other = await layer.ReadHistoryAsync("room_b.2", 0);
        Assert.Equal(3, other.LastOffset);
        Assert.Equal([10, 30, 50], other.Messages.Select(N));
        AssertHistory(true, 0, [], await layer.ReadHistoryAsync("never-used", 0));
    }

    [Fact]
    public async Task A_JsonElement_message_is_sent_as_it_is()
    {
        await using var h = Open(Fake());
        using var document = JsonDocument.Parse("""{ "type": "raw", "nested": {"a": [1, 2.50, "x:y"]}, "big": 12345678901234567890 }""");
        var sent = await h.Layer.GroupSendAsync("g", document.RootElement);
        Assert.Equal(("raw", 1L), (sent.Type, sent.Offset));
        var kept = Assert.Single((await h.Layer.ReadHistoryAsync("g", 0)).Messages);
        Assert.Equal(document.RootElement.GetRawText(), kept.Message.GetRawText());
    }

    public static TheoryData<string> UntypedMessages => new()
    {
        "{}",
        """{"text":"hi"}""",
        """{"type":""}""",
        """{"type":5}""",
        """{"type":null}""",
        """["type"]""",
        "\"type\"",
    };

    [Theory]
    [MemberData(nameof(UntypedMessages))]
    public async Task A_message_without_a_string_type_is_refused_and_not_sent(string json)
    {
        await using var h = Open(Fake());
        using var document = JsonDocument.Parse(json);
        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await h.Layer.GroupSendAsync("g", document.RootElement));
        Assert.Contains("'type'", e.Message, StringComparison.Ordinal);
        Assert.Equal("message", e.ParamName);
        await Assert.ThrowsAsync<ArgumentException>(async () => await h.Layer.GroupSendAsync("g", new { text = "no type" }));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await h.Layer.GroupSendAsync("g", null!));
        AssertHistory(true, 0, [], await h.Layer.ReadHistoryAsync("g", 0));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a:b")]
    [InlineData("a/b")]
    [InlineData("{a}")]
    [InlineData("grüße")]
    [InlineData("a*")]
    public async Task An_invalid_group_name_is_refused_everywhere(string group)
    {
        await using var h = Open(Fake());
        var layer = h.Layer;
        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await layer.GroupSendAsync(group, Msg(1)));
        Assert.Contains("Invalid group name", e.Message, StringComparison.Ordinal);
        Assert.Equal("group", e.ParamName);
        await Assert.ThrowsAsync<ArgumentException>(async () => await layer.ReadHistoryAsync(group, 0));
        await Assert.ThrowsAsync<ArgumentException>(async () => await layer.SubscribeAsync(group, _ => ValueTask.CompletedTask));
        await Assert.ThrowsAsync<ArgumentException>(async () => await layer.GetMembersAsync(group));
    }

    [Fact]
    public async Task Group_names_up_to_100_characters_are_accepted_and_longer_ones_refused()
    {
        await using var h = Open(Fake());
        var longest = new string('x', ChannelGroups.MaxNameLength);
        Assert.Equal(1, (await h.Layer.GroupSendAsync(longest, Msg(1))).Offset);
        Assert.Single((await h.Layer.ReadHistoryAsync(longest, 0)).Messages);
        await Assert.ThrowsAsync<ArgumentException>(async () => await h.Layer.GroupSendAsync(longest + "x", Msg(1)));
    }

    [Fact]
    public async Task A_message_over_the_size_limit_is_refused_with_its_size_and_not_sent()
    {
        await using var h = Open(Fake(), o => o.MaxMessageBytes = 200);
        var e = await Assert.ThrowsAsync<MessageTooLargeException>(async () =>
            await h.Layer.GroupSendAsync("g", new { type = "big", text = new string('x', 300) }));
        Assert.Contains("group 'g'", e.Message, StringComparison.Ordinal);
        Assert.Contains("over the limit of 200 bytes", e.Message, StringComparison.Ordinal);
        AssertHistory(true, 0, [], await h.Layer.ReadHistoryAsync("g", 0));

        // Exactly at the limit is fine (the limit counts UTF-8 bytes of the JSON).
        var text = new string('y', 200 - """{"type":"big","text":""}""".Length);
        Assert.Equal(1, (await h.Layer.GroupSendAsync("g", new { type = "big", text })).Offset);
    }

    // ----- history -----

    [Fact]
    public async Task History_keeps_the_last_n_and_slices_after_an_offset()
    {
        await using var h = Open(Fake(), o => o.HistoryLength = 3);
        var layer = h.Layer;
        var sent = await SendAsync(layer, "g", 1, 2, 3, 4, 5);

        async Task Check(long after, bool complete, params int[] ns)
        {
            var history = await layer.ReadHistoryAsync("g", after);
            Assert.True((complete, 5L) == (history.Complete, history.LastOffset), $"after {after}: complete {history.Complete}, last {history.LastOffset}");
            Assert.Equal(ns, history.Messages.Select(N));
            foreach (var m in history.Messages) AssertSame(sent[m.Offset - 1], m);
        }

        await Check(5, true);                 // up to date
        await Check(4, true, 5);
        await Check(3, true, 4, 5);
        await Check(2, true, 3, 4, 5);        // exactly what is kept
        await Check(1, false, 3, 4, 5);       // 2 is gone: reload, then these
        await Check(0, false, 3, 4, 5);
        await Check(6, false);                // ahead of the group: its history was reset
        await Check(1000, false);
        await Check(-1, false);

        AssertHistory(false, 0, [], await layer.ReadHistoryAsync("empty", 3));
    }

    [Fact]
    public async Task With_no_history_kept_only_an_up_to_date_reader_is_complete()
    {
        await using var h = Open(Fake(), o => o.HistoryLength = 0);
        await SendAsync(h.Layer, "g", 1, 2);
        AssertHistory(true, 2, [], await h.Layer.ReadHistoryAsync("g", 2));
        var behind = await h.Layer.ReadHistoryAsync("g", 1);
        Assert.Equal((false, 2L), (behind.Complete, behind.LastOffset));
        Assert.Empty(behind.Messages);
        Assert.Equal(3, (await h.Layer.GroupSendAsync("g", Msg(3))).Offset);
    }

    [Fact]
    public async Task History_goes_a_window_after_the_last_message_and_offsets_go_on()
    {
        var window = TimeSpan.FromMilliseconds(300);
        var time = Fake();
        await using var h = Open(time, o => o.HistoryWindow = window);
        var layer = h.Layer;
        await SendAsync(layer, "g", 1);
        time.Advance(window / 2);
        var sinceLast = Stopwatch.StartNew();
        await SendAsync(layer, "g", 2);                          // the window runs from the last message

        time.Advance(window * 3 / 4);
        var kept = await layer.ReadHistoryAsync("g", 0);
        if (!WindowOnServerClock || sinceLast.Elapsed < window)   // on the server's clock: only when read in time
        {
            Assert.True(kept.Complete);
            Assert.Equal([1, 2], kept.Messages.Select(N));
        }

        time.Advance(window);
        await Eventually.TrueAsync(async () => (await layer.ReadHistoryAsync("g", 0)).Messages.Count == 0, Bound);
        AssertHistory(false, 2, [], await layer.ReadHistoryAsync("g", 0));
        AssertHistory(false, 2, [], await layer.ReadHistoryAsync("g", 1));
        AssertHistory(true, 2, [], await layer.ReadHistoryAsync("g", 2));

        Assert.Equal(3, (await layer.GroupSendAsync("g", Msg(3))).Offset);
        var after2 = await layer.ReadHistoryAsync("g", 2);
        Assert.Equal((true, 3L), (after2.Complete, after2.LastOffset));
        Assert.Equal([3], after2.Messages.Select(N));
        var after0 = await layer.ReadHistoryAsync("g", 0);
        Assert.Equal((false, 3L), (after0.Complete, after0.LastOffset));
        Assert.Equal([3], after0.Messages.Select(N));
    }

    // ----- subscriptions -----

    [Fact]
    public async Task A_subscriber_gets_messages_sent_after_it_subscribed_in_offset_order_one_at_a_time()
    {
        await using var h = Open(TimeProvider.System);
        var layer = h.Layer;
        await SendAsync(layer, "g", 0);                             // before: not delivered
        var active = 0;
        var overlapped = false;
        var recorder = new Recorder(async _ =>
        {
            if (Interlocked.Increment(ref active) > 1) overlapped = true;
            await Task.Yield();
            if (Interlocked.Decrement(ref active) != 0) overlapped = true;
        });
        await using (await layer.SubscribeAsync("g", recorder.OnMessageAsync))
        {
            var sent = new List<GroupMessage>();
            var sends = Enumerable.Range(1, 50).Select(i => layer.GroupSendAsync("g", Msg(i)).AsTask()).ToList();
            foreach (var send in sends) sent.Add(await send);
            await recorder.WaitForAsync(50);
            Assert.Equal(Enumerable.Range(2, 50).Select(i => (long)i), recorder.Messages.Select(m => m.Offset));
            var byOffset = sent.ToDictionary(m => m.Offset);
            foreach (var m in recorder.Messages) AssertSame(byOffset[m.Offset], m);
            Assert.False(overlapped, "the callback ran for two messages at once");
        }
    }

    [Fact]
    public async Task A_slow_subscriber_delays_neither_another_subscriber_of_its_group_nor_other_groups()
    {
        await using var h = Open(TimeProvider.System);
        var layer = h.Layer;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = new Recorder(_ => new ValueTask(gate.Task));
        var fast = new Recorder();
        var other = new Recorder();
        await using var s1 = await layer.SubscribeAsync("g", slow.OnMessageAsync);
        await using var s2 = await layer.SubscribeAsync("g", fast.OnMessageAsync);
        await using var s3 = await layer.SubscribeAsync("h", other.OnMessageAsync);

        await SendAsync(layer, "g", 1, 2, 3);
        await SendAsync(layer, "h", 1, 2);
        await fast.WaitForAsync(3);
        await other.WaitForAsync(2);
        Assert.Equal([1L, 2, 3], fast.Messages.Select(m => m.Offset));
        Assert.Equal([1L, 2], other.Messages.Select(m => m.Offset));
        Assert.Empty(slow.Messages);                                  // still in its first callback

        gate.SetResult();
        await slow.WaitForAsync(3);
        Assert.Equal([1L, 2, 3], slow.Messages.Select(m => m.Offset));
    }

    [Fact]
    public async Task A_failing_callback_does_not_stop_its_subscription()
    {
        await using var h = Open(TimeProvider.System);
        var recorder = new Recorder(m => m.Offset == 1 ? throw new InvalidOperationException("boom") : ValueTask.CompletedTask);
        await using var s = await h.Layer.SubscribeAsync("g", recorder.OnMessageAsync);
        await SendAsync(h.Layer, "g", 1, 2);
        await recorder.WaitForAsync(1);
        Assert.Equal([2L], recorder.Messages.Select(m => m.Offset));
    }

    [Fact]
    public async Task Disposing_a_subscription_stops_its_delivery_and_only_its()
    {
        await using var h = Open(TimeProvider.System);
        var layer = h.Layer;
        var stopped = new Recorder();
        var staying = new Recorder();
        var subscription = await layer.SubscribeAsync("g", stopped.OnMessageAsync);
        await using var stays = await layer.SubscribeAsync("g", staying.OnMessageAsync);
        await SendAsync(layer, "g", 1);
        await stopped.WaitForAsync(1);

        await subscription.DisposeAsync();
        await subscription.DisposeAsync();                                // twice is harmless
        await SendAsync(layer, "g", 2, 3);
        await staying.WaitForAsync(3);
        Assert.Equal([1L], stopped.Messages.Select(m => m.Offset));

        // Subscribing again after the last one left works as the first time.
        await stays.DisposeAsync();
        var again = new Recorder();
        await using (await layer.SubscribeAsync("g", again.OnMessageAsync))
        {
            await SendAsync(layer, "g", 4);
            await again.WaitForAsync(1);
            Assert.Equal([4L], again.Messages.Select(m => m.Offset));
        }
        Assert.Equal([1L, 2, 3], staying.Messages.Select(m => m.Offset));
    }

    [Fact]
    public async Task A_subscription_disposed_from_its_own_callback_ends_without_a_deadlock_and_gets_nothing_more()
    {
        await using var h = Open(TimeProvider.System);
        var layer = h.Layer;
        var seen = new List<long>();
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IAsyncDisposable? subscription = null;
        var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscription = await layer.SubscribeAsync("g", async m =>
        {
            await subscribed.Task;
            seen.Add(m.Offset);
            if (m.Offset == 2)
            {
                await subscription!.DisposeAsync();
                disposed.SetResult();
            }
        });
        subscribed.SetResult();
        var witness = new Recorder();
        await using var stays = await layer.SubscribeAsync("g", witness.OnMessageAsync);

        await SendAsync(layer, "g", 1, 2, 3, 4);                        // 3 and 4 may be queued when 2 disposes
        await disposed.Task.WaitAsync(Bound);
        await witness.WaitForAsync(4);
        await SendAsync(layer, "g", 5);
        await witness.WaitForAsync(5);
        Assert.Equal([1L, 2], seen);
    }

    [Fact]
    public async Task A_message_sent_through_one_layer_reaches_a_subscriber_on_another()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        var onA = new Recorder();
        var onB = new Recorder();
        await using var sa = await a.Layer.SubscribeAsync("g", onA.OnMessageAsync);
        await using var sb = await b.Layer.SubscribeAsync("g", onB.OnMessageAsync);

        var sent = new List<GroupMessage>();
        for (var i = 1; i <= 10; i++) sent.Add(await (i % 2 == 0 ? a : b).Layer.GroupSendAsync("g", Msg(i)));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), sent.Select(m => m.Offset));
        await onA.WaitForAsync(10);
        await onB.WaitForAsync(10);
        for (var i = 0; i < 10; i++)
        {
            AssertSame(sent[i], onA.Messages[i]);
            AssertSame(sent[i], onB.Messages[i]);
        }
        Assert.Equal(10, (await b.Layer.ReadHistoryAsync("g", 0)).Messages.Count);
    }

    [Fact]
    public async Task Concurrent_senders_on_two_layers_give_every_subscriber_the_same_gapless_order()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        var onA = new Recorder();
        var onB = new Recorder();
        await using var sa = await a.Layer.SubscribeAsync("g", onA.OnMessageAsync);
        await using var sb = await b.Layer.SubscribeAsync("g", onB.OnMessageAsync);

        var senders = Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
        {
            var layer = (s % 2 == 0 ? a : b).Layer;
            for (var i = 0; i < 25; i++) await layer.GroupSendAsync("g", Msg((100 * s) + i));
        })).ToList();
        await Task.WhenAll(senders);
        await onA.WaitForAsync(100);
        await onB.WaitForAsync(100);
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), onA.Messages.Select(m => m.Offset));
        Assert.Equal(onA.Messages.Select(N), onB.Messages.Select(N));
        Assert.Equal(onA.Messages.Select(N), (await a.Layer.ReadHistoryAsync("g", 0)).Messages.Select(N));
    }

    // ----- membership -----

    private static GroupMember Member(string node, string connection, int second, string? user = null) =>
        new(node, connection, user, Start.AddSeconds(second));

    [Fact]
    public async Task Members_reported_by_two_nodes_are_merged_by_join_time()
    {
        await using var a = Open(Fake());
        await using var b = OpenSecond(a);
        var ttl = TimeSpan.FromSeconds(30);
        await a.Layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["chat"] = [Member("web-1", "c1", 1, "alice"), Member("web-1", "c3", 3)],
            ["time"] = [Member("web-1", "c1", 1, "alice")],
        }, ttl);
        await b.Layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["chat"] = [Member("web-2", "c2", 2, "bob")],
            ["empty"] = [],
        }, ttl);

        foreach (var layer in new[] { a.Layer, b.Layer })
        {
            Assert.Equal([Member("web-1", "c1", 1, "alice"), Member("web-2", "c2", 2, "bob"), Member("web-1", "c3", 3)], await layer.GetMembersAsync("chat"));
            Assert.Equal([Member("web-1", "c1", 1, "alice")], await layer.GetMembersAsync("time"));
            Assert.Empty(await layer.GetMembersAsync("empty"));
            Assert.Empty(await layer.GetMembersAsync("nobody"));
        }
    }

    [Fact]
    public async Task A_node_disappears_when_its_time_to_live_passes_unless_it_reports_again()
    {
        var time = Fake();
        await using var h = Open(time);
        var layer = h.Layer;
        var ttl = TimeSpan.FromSeconds(30);
        await layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>> { ["chat"] = [Member("web-1", "c1", 1)] }, ttl);
        await layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>> { ["chat"] = [Member("web-2", "c2", 2)] }, ttl);

        time.Advance(TimeSpan.FromSeconds(20));
        await layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>> { ["chat"] = [Member("web-2", "c2", 2)] }, ttl);
        Assert.Equal(["c1", "c2"], (await layer.GetMembersAsync("chat")).Select(m => m.Connection));

        time.Advance(TimeSpan.FromSeconds(10));                 // web-1's report is 30 s old: gone
        Assert.Equal(["c2"], (await layer.GetMembersAsync("chat")).Select(m => m.Connection));
        time.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(["c2"], (await layer.GetMembersAsync("chat")).Select(m => m.Connection));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(await layer.GetMembersAsync("chat"));

        // A node that comes back is a member again.
        await layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>> { ["chat"] = [Member("web-1", "c9", 9)] }, ttl);
        Assert.Equal(["c9"], (await layer.GetMembersAsync("chat")).Select(m => m.Connection));
    }

    [Fact]
    public async Task A_report_replaces_the_nodes_previous_snapshot()
    {
        await using var h = Open(Fake());
        var layer = h.Layer;
        var ttl = TimeSpan.FromSeconds(30);
        await layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>> { ["a"] = [Member("web-2", "x", 0)] }, ttl);
        await layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["a"] = [Member("web-1", "c1", 1), Member("web-1", "c2", 2)],
            ["b"] = [Member("web-1", "c1", 1)],
        }, ttl);
        await layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["a"] = [Member("web-1", "c2", 2), Member("web-1", "c4", 4, "dora")],
            ["c"] = [Member("web-1", "c4", 4, "dora")],
        }, ttl);

        Assert.Equal([Member("web-2", "x", 0), Member("web-1", "c2", 2), Member("web-1", "c4", 4, "dora")], await layer.GetMembersAsync("a"));
        Assert.Empty(await layer.GetMembersAsync("b"));
        Assert.Equal([Member("web-1", "c4", 4, "dora")], await layer.GetMembersAsync("c"));

        await layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>>(), ttl);
        Assert.Equal([Member("web-2", "x", 0)], await layer.GetMembersAsync("a"));
        Assert.Empty(await layer.GetMembersAsync("c"));
    }

    [Fact]
    public async Task Reporting_checks_its_arguments()
    {
        await using var h = Open(Fake());
        var empty = new Dictionary<string, IReadOnlyList<GroupMember>>();
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await h.Layer.ReportMembersAsync("", empty, TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await h.Layer.ReportMembersAsync(" ", empty, TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await h.Layer.ReportMembersAsync("n", null!, TimeSpan.FromSeconds(1)));
    }

    /// <summary>Records what a subscription delivers; <c>before</c> runs first for each message (to be slow or fail).</summary>
    protected sealed class Recorder(Func<GroupMessage, ValueTask>? before = null)
    {
        private readonly Lock _gate = new();
        private readonly List<GroupMessage> _messages = [];

        public IReadOnlyList<GroupMessage> Messages
        {
            get
            {
                lock (_gate) return [.. _messages];
            }
        }

        public async ValueTask OnMessageAsync(GroupMessage message)
        {
            if (before is not null) await before(message);
            lock (_gate) _messages.Add(message);
        }

        /// <summary>Waits until at least <paramref name="count"/> messages arrived.</summary>
        public Task WaitForAsync(int count) =>
            Eventually.TrueAsync(() => Task.FromResult(Messages.Count >= count), Bound);
    }
}

/// <summary>A channel layer built through <c>AddCeleriac</c>, as an app would, with the clock and options of a test.</summary>
public sealed class ChannelLayerHarness : IAsyncDisposable
{
    private readonly ServiceProvider? _owned;

    public ChannelLayerHarness(Action<CeleriacBuilder> use, TimeProvider time, Action<ChannelLayerOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(time);
        services.AddLogging();          // as a host has (the in-memory layer needs an ILogger<>)
        services.AddCeleriac(use);
        if (configure is not null) services.Configure(configure);
        _owned = services.BuildServiceProvider();
        Services = _owned;
        Time = time;
    }

    private ChannelLayerHarness(IServiceProvider services, TimeProvider time)
    {
        Services = services;
        Time = time;
    }

    public IServiceProvider Services { get; }

    public TimeProvider Time { get; }

    public IChannelLayer Layer => Services.GetRequiredService<IChannelLayer>();

    /// <summary>The same layer, not disposed with this view.</summary>
    public ChannelLayerHarness View() => new(Services, Time);

    public async ValueTask DisposeAsync()
    {
        if (_owned is not null) await _owned.DisposeAsync();
    }
}
