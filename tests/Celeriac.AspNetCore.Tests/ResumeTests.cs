using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.AspNetCore.Tests;

public sealed class ResumeTests
{
    private static Task<TestApp> StartAsync(int historyLength = 100) => TestApp.StartAsync(
        app => app.MapConsumer<RoomConsumer>("/ws/rooms/{room}"),
        services => services.Configure<ChannelLayerOptions>(o => o.HistoryLength = historyLength));

    private static async Task SendAsync(TestApp app, string group, int count)
    {
        for (var i = 0; i < count; i++) await app.Layer.GroupSendAsync(group, new { type = "m" });
    }

    private static string Kind(JsonElement frame) => frame.GetProperty("celeriac").GetString()!;

    private static long Offset(JsonElement frame) => frame.GetProperty("offset").GetInt64();

    [Fact]
    public async Task Joining_without_an_offset_gets_joined_at_the_groups_newest_offset_then_live_messages()
    {
        await using var app = await StartAsync();
        await SendAsync(app, "lobby", 3);
        await using var client = await app.ConnectAsync("/ws/rooms/lobby");
        var joined = await client.ReceiveJsonAsync();
        Assert.Equal(("joined", 3L), (Kind(joined), Offset(joined)));
        await SendAsync(app, "lobby", 1);
        var live = await client.ReceiveJsonAsync();
        Assert.Equal(("message", 4L), (Kind(live), Offset(live)));
    }

    [Fact]
    public async Task A_message_sent_right_after_joining_reaches_the_joining_connection()
    {
        await using var app = await TestApp.StartAsync(a => a.MapConsumer<GreetingConsumer>("/ws/greet"));
        for (var i = 0; i < 20; i++)
        {
            await using var client = await app.ConnectAsync("/ws/greet");
            // Before `joined` (the message came while the join completed, so it is replayed) or after it: exactly once.
            var kinds = new[] { Kind(await client.ReceiveJsonAsync()), Kind(await client.ReceiveJsonAsync()) };
            Assert.Equal(["joined", "message"], kinds.Order());
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ReceiveAsync(TimeSpan.FromMilliseconds(50)));   // no duplicate
        }
    }

    [Fact]
    public async Task Message_frames_carry_prev_the_offset_last_forwarded_so_skipped_messages_are_no_gap()
    {
        await using var app = await TestApp.StartAsync(a => a.MapConsumer<FilteringConsumer>("/ws/filtered"));
        await app.Layer.GroupSendAsync("filtered", new { type = "m", keep = true });
        await using var client = await app.ConnectAsync("/ws/filtered");
        var joinedFrame = await client.ReceiveJsonAsync();
        Assert.Equal(("joined", 1L), (Kind(joinedFrame), Offset(joinedFrame)));
        foreach (var keep in new[] { true, false, false, true, false, true })
            await app.Layer.GroupSendAsync("filtered", new { type = "m", keep });

        // Offsets 2..7; kept: 2, 5, 7. Each frame's prev is the previous kept offset (the join's 1 for the first).
        var frames = new List<(long Prev, long Offset)>();
        for (var i = 0; i < 3; i++)
        {
            var frame = await client.ReceiveJsonAsync();
            frames.Add((frame.GetProperty("prev").GetInt64(), Offset(frame)));
        }
        Assert.Equal([(1L, 2L), (2L, 5L), (5L, 7L)], frames);

        // A resume from 2 replays through the same handler: prev starts at the resume offset.
        await client.SendAsync("""{"celeriac":"resume","groups":{"filtered":2}}""");
        var replayed = new List<(long Prev, long Offset)>();
        for (var i = 0; i < 2; i++)
        {
            var frame = await client.ReceiveJsonAsync();
            replayed.Add((frame.GetProperty("prev").GetInt64(), Offset(frame)));
        }
        Assert.Equal([(2L, 5L), (5L, 7L)], replayed);
    }

    [Fact]
    public async Task Reconnecting_with_celeriac_resume_replays_exactly_what_came_after_then_joined()
    {
        await using var app = await StartAsync();
        await SendAsync(app, "lobby", 10);
        await using var client = await app.ConnectAsync("/ws/rooms/lobby?celeriac-resume=" + Uri.EscapeDataString("lobby:7,other:2"));
        foreach (var expected in new long[] { 8, 9, 10 })
        {
            var frame = await client.ReceiveJsonAsync();
            Assert.Equal(("message", expected), (Kind(frame), Offset(frame)));
        }
        var joined = await client.ReceiveJsonAsync();
        Assert.Equal(("joined", 10L), (Kind(joined), Offset(joined)));
        await SendAsync(app, "lobby", 1);
        Assert.Equal(11, Offset(await client.ReceiveJsonAsync()));
    }

    [Fact]
    public async Task A_resume_while_messages_keep_coming_has_no_gap_and_no_duplicate()
    {
        await using var app = await StartAsync(historyLength: 1000);
        await SendAsync(app, "busy", 50);
        using var stop = new CancellationTokenSource();
        var sender = Task.Run(async () =>
        {
            var sent = 0;
            while (!stop.IsCancellationRequested && sent < 500)
            {
                await app.Layer.GroupSendAsync("busy", new { type = "m" });
                if (++sent % 5 == 0) await Task.Yield();
            }
        });
        for (var round = 0; round < 5; round++)
        {
            await using var client = await app.ConnectAsync("/ws/rooms/busy?celeriac-resume=busy:" + (10 + round));
            var expected = 11L + round;
            var joined = false;
            while (expected < 70 + round)
            {
                var frame = await client.ReceiveJsonAsync();
                if (Kind(frame) == "joined")
                {
                    Assert.False(joined);
                    joined = true;
                    Assert.Equal(expected - 1, Offset(frame));
                    continue;
                }
                Assert.True(Kind(frame) == "message" && Offset(frame) == expected, $"expected message {expected}, got {frame}");
                expected++;
            }
        }
        await stop.CancelAsync();
        await sender;
    }

    [Fact]
    public async Task An_offset_older_than_the_history_gets_reload()
    {
        await using var app = await StartAsync(historyLength: 5);
        await SendAsync(app, "lobby", 20);
        await using var client = await app.ConnectAsync("/ws/rooms/lobby?celeriac-resume=lobby:3");
        var reload = await client.ReceiveJsonAsync();
        Assert.Equal(("reload", 20L), (Kind(reload), Offset(reload)));
        Assert.Equal("lobby", reload.GetProperty("group").GetString());
        var joined = await client.ReceiveJsonAsync();
        Assert.Equal(("joined", 20L), (Kind(joined), Offset(joined)));
        await SendAsync(app, "lobby", 1);
        Assert.Equal(21, Offset(await client.ReceiveJsonAsync()));

        // An offset ahead of the group (its history was reset) reloads too.
        await using var ahead = await app.ConnectAsync("/ws/rooms/lobby?celeriac-resume=lobby:500");
        var reset = await ahead.ReceiveJsonAsync();
        Assert.Equal(("reload", 21L), (Kind(reset), Offset(reset)));
    }

    [Fact]
    public async Task Client_join_with_after_and_resume_frames_replay_from_the_history()
    {
        await using var app = await StartAsync();
        await SendAsync(app, "news", 5);
        await using var client = await app.ConnectAsync("/ws/rooms/lobby");
        Assert.Equal("joined", Kind(await client.ReceiveJsonAsync()));

        await client.SendJsonAsync(new { celeriac = "join", group = "news", after = 2 });
        foreach (var expected in new long[] { 3, 4, 5 })
        {
            var frame = await client.ReceiveJsonAsync();
            Assert.Equal(("message", expected, "news"), (Kind(frame), Offset(frame), frame.GetProperty("group").GetString()));
        }
        Assert.Equal(("joined", 5L), (Kind(await client.ReceiveJsonAsync()), 5L));

        await client.SendJsonAsync(new { celeriac = "resume", groups = new Dictionary<string, long> { ["news"] = 3, ["not-a-member"] = 0 } });
        Assert.Equal(4, Offset(await client.ReceiveJsonAsync()));
        Assert.Equal(5, Offset(await client.ReceiveJsonAsync()));

        await client.SendJsonAsync(new { celeriac = "leave", group = "news" });
        Assert.Equal("left", Kind(await client.ReceiveJsonAsync()));
        await SendAsync(app, "news", 1);
        await client.SendAsync("still here");
        Assert.Equal("app:still here", await client.ReceiveAsync());
    }
}
