using System.Diagnostics;
using System.Text;
using Celeriac.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Celeriac.Transport.Tests;

/// <summary>
/// The channel layer on Redis: the contract suite (a second harness on the same key prefix is another process; the
/// history window is the server's <c>PEXPIRE</c>, waited for in real time), plus the key and channel layout, shared
/// Redis subscriptions, the membership layout with 10,000 members, and the frame format.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisChannelLayerTests(RedisServer redis) : ChannelLayerContractTests
{
    private string? _prefix;
    private Action<ChannelLayerOptions>? _configure;

    protected override ChannelLayerHarness Open(TimeProvider time, Action<ChannelLayerOptions>? configure = null)
    {
        _configure = configure;
        return Harness(redis, time, _prefix = redis.NewPrefix(), configure);
    }

    /// <summary>A second connection with the same key prefix and options, as another process would have.</summary>
    protected override ChannelLayerHarness OpenSecond(ChannelLayerHarness first) => Harness(redis, first.Time, _prefix!, _configure);

    protected override bool WindowOnServerClock => true;

    /// <summary>A layer on <paramref name="server"/> with key prefix <paramref name="prefix"/>, connected before it is returned.</summary>
    internal static ChannelLayerHarness Harness(RedisServer server, TimeProvider time, string prefix, Action<ChannelLayerOptions>? configure = null)
    {
        var harness = new ChannelLayerHarness(c => c.UseRedis(server.Configuration, o => o.KeyPrefix = prefix), time, configure);
        Task.Run(async () => await Connection(harness).DatabaseAsync()).GetAwaiter().GetResult();
        return harness;
    }

    internal static RedisConnection Connection(ChannelLayerHarness h) => h.Services.GetRequiredService<RedisConnection>();

    private static async Task<long> SubscribersAsync(IDatabase db, RedisChannel channel) =>
        (long)((RedisResult[])(await db.ExecuteAsync("PUBSUB", "NUMSUB", channel.ToString()))!)[1];

    [Fact]
    public void UseRedis_replaces_the_in_memory_layer_and_AddCeleriac_keeps_it()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddCeleriac(c => c.UseRedis(redis.Configuration, o => o.KeyPrefix = redis.NewPrefix()));
        services.AddCeleriac();                                        // twice is harmless
        using var provider = services.BuildServiceProvider();
        Assert.IsType<RedisChannelLayer>(provider.GetRequiredService<IChannelLayer>());
        Assert.Single(services, d => d.ServiceType == typeof(IChannelLayer));

        var inMemory = new ServiceCollection();
        inMemory.AddLogging();
        inMemory.AddCeleriac(c => c.UseRedis(redis.Configuration).UseInMemory());
        using var other = inMemory.BuildServiceProvider();
        Assert.IsNotType<RedisChannelLayer>(other.GetRequiredService<IChannelLayer>());
    }

    [Fact]
    public async Task Group_keys_carry_the_group_as_hash_tag_the_counter_never_expires_and_the_history_is_trimmed_and_expires()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time, o => (o.HistoryLength, o.HistoryWindow) = (3, TimeSpan.FromMinutes(1)));
        var keys = Connection(h).Keys;
        var db = await Connection(h).DatabaseAsync();
        await SendAsync(h.Layer, "chat", 1, 2, 3, 4, 5);
        await SendAsync(h.Layer, "news", 1);

        Assert.Equal(_prefix + "g:{chat}:o", keys.GroupOffset("chat").ToString());
        Assert.Equal(_prefix + "g:{chat}:h", keys.GroupHistory("chat").ToString());
        Assert.Equal(5, (long)await db.StringGetAsync(keys.GroupOffset("chat")));
        Assert.Null(await db.KeyTimeToLiveAsync(keys.GroupOffset("chat")));
        var ttl = await db.KeyTimeToLiveAsync(keys.GroupHistory("chat"));
        Assert.True(ttl > TimeSpan.Zero && ttl <= TimeSpan.FromMinutes(1), $"history TTL {ttl}");

        var frames = (await db.ListRangeAsync(keys.GroupHistory("chat"))).Select(f => (string)f!).ToList();
        Assert.Equal(3, frames.Count);
        var ms = Start.ToUnixTimeMilliseconds();
        Assert.Equal($"3:{ms}:{{\"type\":\"test.message\",\"n\":3,", frames[0][..(frames[0].IndexOf(",\"text", StringComparison.Ordinal) + 1)]);
        Assert.Equal(["4:", "5:"], frames.Skip(1).Select(f => f[..2]));

        // A group's two keys share a slot, the group name's; groups spread over slots.
        Assert.Equal(Slot("chat"), Slot(keys.GroupOffset("chat")));
        Assert.Equal(Slot("chat"), Slot(keys.GroupHistory("chat")));
        Assert.Equal(10, Enumerable.Range(0, 10).Select(i => Slot(keys.GroupOffset("room-" + i))).Distinct().Count());
    }

    [Fact]
    public async Task Local_subscriptions_of_a_group_share_one_Redis_subscription_which_ends_with_the_last()
    {
        await using var h = Open(TimeProvider.System);
        var keys = Connection(h).Keys;
        var db = await Connection(h).DatabaseAsync();
        var channel = keys.GroupChannel("chat");
        Assert.Equal(_prefix + "g:chat", channel.ToString());

        var first = new Recorder();
        var second = new Recorder();
        var s1 = await h.Layer.SubscribeAsync("chat", first.OnMessageAsync);
        var s2 = await h.Layer.SubscribeAsync("chat", second.OnMessageAsync);
        Assert.Equal(1, await SubscribersAsync(db, channel));
        await SendAsync(h.Layer, "chat", 1);
        await first.WaitForAsync(1);
        await second.WaitForAsync(1);

        await s1.DisposeAsync();
        Assert.Equal(1, await SubscribersAsync(db, channel));
        await SendAsync(h.Layer, "chat", 2);
        await second.WaitForAsync(2);
        Assert.Single(first.Messages);

        await s2.DisposeAsync();
        await Eventually.TrueAsync(async () => await SubscribersAsync(db, channel) == 0, Bound);

        // Subscribing, leaving and subscribing again quickly ends subscribed.
        for (var i = 0; i < 20; i++) await (await h.Layer.SubscribeAsync("chat", _ => ValueTask.CompletedTask)).DisposeAsync();
        var last = new Recorder();
        await using (await h.Layer.SubscribeAsync("chat", last.OnMessageAsync))
        {
            Assert.Equal(1, await SubscribersAsync(db, channel));
            await SendAsync(h.Layer, "chat", 3);
            await last.WaitForAsync(1);
            Assert.Equal([3L], last.Messages.Select(m => m.Offset));
        }
    }

    [Fact]
    public async Task A_subscription_disposed_from_its_own_callback_stops_without_deadlock()
    {
        await using var h = Open(TimeProvider.System);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IAsyncDisposable? subscription = null;
        var calls = 0;
        subscription = await h.Layer.SubscribeAsync("g", async _ =>
        {
            Interlocked.Increment(ref calls);
            await subscription!.DisposeAsync();
            done.TrySetResult();
        });
        await SendAsync(h.Layer, "g", 1);
        await done.Task.WaitAsync(Bound);
        var watcher = new Recorder();
        await using var stays = await h.Layer.SubscribeAsync("g", watcher.OnMessageAsync);
        await SendAsync(h.Layer, "g", 2);
        await watcher.WaitForAsync(1);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Membership_with_ten_thousand_members_on_one_node_is_one_hash_field_per_group()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var keys = Connection(h).Keys;
        var db = await Connection(h).DatabaseAsync();
        var members = new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["everyone"] = [.. Enumerable.Range(0, 10_000).Select(i => new GroupMember("web-1", "c" + i, "user" + i, Start.AddMilliseconds(i)))],
        };
        for (var g = 0; g < 1_000; g++)
            members["room-" + g] = [.. Enumerable.Range(0, 10).Select(i => new GroupMember("web-1", $"c{(g * 10) + i}", null, Start.AddMilliseconds((g * 10) + i)))];
        var ttl = TimeSpan.FromSeconds(30);
        await h.Layer.ReportMembersAsync("web-1", members, ttl);
        await h.Layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>> { ["room-7"] = [new GroupMember("web-2", "z", null, Start)] }, ttl);

        Assert.Equal(1_001, await db.HashLengthAsync(keys.MemberNode("web-1")));
        var nodeTtl = await db.KeyTimeToLiveAsync(keys.MemberNode("web-1"));
        Assert.True(nodeTtl > TimeSpan.Zero && nodeTtl <= ttl, $"node TTL {nodeTtl}");
        Assert.Equal((Start + ttl).ToUnixTimeMilliseconds(), await db.SortedSetScoreAsync(keys.MemberNodes, "web-1"));
        Assert.Equal(Slot(keys.Sequence), Slot(keys.MemberNode("web-1")));
        Assert.Equal(Slot(keys.Sequence), Slot(keys.MemberNodes));

        var room = await h.Layer.GetMembersAsync("room-7");
        Assert.Equal(["z", .. Enumerable.Range(70, 10).Select(i => "c" + i)], room.Select(m => m.Connection));
        var everyone = await h.Layer.GetMembersAsync("everyone");
        Assert.Equal(10_000, everyone.Count);
        Assert.Equal(members["everyone"], everyone);

        // A node that ran out is dropped from the registry, and its hash with it, by the next read.
        time.Advance(ttl);
        Assert.Empty(await h.Layer.GetMembersAsync("room-7"));
        Assert.False(await db.KeyExistsAsync(keys.MemberNode("web-1")));
        Assert.Equal(0, await db.SortedSetLengthAsync(keys.MemberNodes));
    }

    [Fact]
    public async Task Prefixes_keep_apps_apart()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = Harness(redis, TimeProvider.System, redis.NewPrefix());
        var onB = new Recorder();
        await using var s = await b.Layer.SubscribeAsync("g", onB.OnMessageAsync);
        await SendAsync(a.Layer, "g", 1, 2);
        Assert.Equal(1, (await b.Layer.GroupSendAsync("g", Msg(9))).Offset);
        await onB.WaitForAsync(1);
        Assert.Equal([9], onB.Messages.Select(N));
        Assert.Equal(2, (await a.Layer.ReadHistoryAsync("g", 0)).LastOffset);
    }

    /// <summary>The Redis Cluster slot of a key (CRC16/XMODEM of its hash tag, or of the key), as the server computes it.</summary>
    private static int Slot(RedisKey key)
    {
        var name = key.ToString();
        var open = name.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0 && name.IndexOf('}', open + 1) is var close and > 0 && close > open + 1) name = name[(open + 1)..close];
        ushort crc = 0;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            crc ^= (ushort)(b << 8);
            for (var i = 0; i < 8; i++) crc = (ushort)((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        return crc % 16384;
    }

    [Fact]
    public void Slot_agrees_with_the_Redis_cluster_specification()
    {
        Assert.Equal(0x31C3, Slot("123456789"));                 // the specification's CRC16 check value
        Assert.Equal(Slot("user1000"), Slot("{user1000}.following"));
        Assert.Equal(Slot("{user1000}.following"), Slot("{user1000}.followers"));
        Assert.NotEqual(Slot("a"), Slot("b"));
    }

    [Theory]
    [InlineData("1:2:{\"type\":\"a\"}", true)]
    [InlineData("12:1767268800000:{\"type\":\"a:b\",\"t\":\"1:2:3\"}", true)]
    [InlineData("", false)]
    [InlineData(":1:{\"type\":\"a\"}", false)]
    [InlineData("1::{\"type\":\"a\"}", false)]
    [InlineData("x:1:{\"type\":\"a\"}", false)]
    [InlineData("1:2:", false)]
    [InlineData("1:2:{\"type\":", false)]
    [InlineData("1:2:{\"kind\":\"a\"}", false)]
    [InlineData("1:2:[1]", false)]
    public void Frames_are_offset_sent_at_and_json(string frame, bool valid)
    {
        Assert.Equal(valid, RedisChannelLayer.TryParse("g", Encoding.UTF8.GetBytes(frame), out var message));
        if (!valid) return;
        Assert.Equal("g", message!.Group);
        Assert.Equal(frame[(frame.IndexOf(':', frame.IndexOf(':') + 1) + 1)..], message.Message.GetRawText());
        Assert.Equal(message.Message.GetProperty("type").GetString(), message.Type);
        Assert.Equal(long.Parse(frame[..frame.IndexOf(':')], System.Globalization.CultureInfo.InvariantCulture), message.Offset);
    }
}

/// <summary>
/// Subscriptions survive a Redis restart (SIGKILL, start again on the same port and append-only directory): the
/// multiplexer subscribes again on its own and messages sent after the restart arrive, offsets going on from before.
/// Uses a server of its own, since it stops it.
/// </summary>
public sealed class RedisChannelLayerRestartTests(RedisServer redis) : IClassFixture<RedisServer>
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Subscriptions_resume_after_redis_server_is_killed_and_restarted()
    {
        var prefix = redis.NewPrefix();
        await using var web = RedisChannelLayerTests.Harness(redis, TimeProvider.System, prefix);
        await using var worker = RedisChannelLayerTests.Harness(redis, TimeProvider.System, prefix);
        var received = new List<GroupMessage>();
        var gate = new Lock();
        IReadOnlyList<GroupMessage> Received()
        {
            lock (gate) return [.. received];
        }
        await using var subscription = await web.Layer.SubscribeAsync("chat", m =>
        {
            lock (gate) received.Add(m);
            return ValueTask.CompletedTask;
        });
        await worker.Layer.GroupSendAsync("chat", new { type = "before" });
        await Eventually.TrueAsync(() => Task.FromResult(Received().Count == 1));

        await redis.KillAsync();
        await Assert.ThrowsAnyAsync<RedisConnectionException>(async () => await worker.Layer.GroupSendAsync("chat", new { type = "down" }));
        await Assert.ThrowsAnyAsync<RedisException>(async () => await worker.Layer.ReadHistoryAsync("chat", 0));
        await Assert.ThrowsAnyAsync<RedisException>(async () => await worker.Layer.SubscribeAsync("news", _ => ValueTask.CompletedTask));
        await redis.RestartAsync();

        // Send until one sent after the restart arrives: the first sends may go out before the subscriber is back.
        var clock = Stopwatch.StartNew();
        var arrived = await Eventually.GetAsync(async () =>
        {
            GroupMessage sent;
            try
            {
                sent = await worker.Layer.GroupSendAsync("chat", new { type = "after" });
            }
            catch (RedisException)
            {
                return null;
            }
            var wait = Stopwatch.StartNew();
            while (wait.Elapsed < TimeSpan.FromMilliseconds(200))
            {
                if (Received().Any(m => m.Offset == sent.Offset)) return sent;
                await Task.Delay(10);
            }
            return null;
        }, Recovery);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"recovered after {clock.Elapsed}");
        Assert.True(arrived.Offset >= 2, "the offset counter survived the restart");
        var history = await web.Layer.ReadHistoryAsync("chat", 0);
        Assert.True(history.Complete);
        Assert.Equal("before", history.Messages[0].Type);                 // kept through the restart (append-only file)

        var more = new List<GroupMessage>();
        for (var i = 0; i < 10; i++) more.Add(await worker.Layer.GroupSendAsync("chat", new { type = "more", i }));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => arrived.Offset + i), more.Select(m => m.Offset));
        await Eventually.TrueAsync(() => Task.FromResult(Received().Count(m => m.Type == "more") == 10), Recovery);
        var offsets = Received().Select(m => m.Offset).ToList();
        Assert.Equal(offsets.Order(), offsets);
        Assert.Equal(offsets.Distinct(), offsets);

        // The group whose subscription failed while the server was down can be subscribed to now.
        var late = new TaskCompletionSource<GroupMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var second = await worker.Layer.SubscribeAsync("news", m =>
        {
            late.TrySetResult(m);
            return ValueTask.CompletedTask;
        });
        var last = await web.Layer.GroupSendAsync("news", new { type = "last" });
        Assert.Equal(last.Offset, (await late.Task.WaitAsync(Recovery)).Offset);
    }
}
