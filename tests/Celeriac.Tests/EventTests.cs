using System.Collections.Concurrent;
using System.Text.Json;
using Celeriac.Transport;

namespace Celeriac.Tests;

public sealed record Alert(string Text, int Level);

public sealed class EventSubjectTests
{
    [Theory]
    [InlineData("alerts.disk.full", "alerts.disk.full", true)]
    [InlineData("alerts.disk.full", "alerts.disk", false)]
    [InlineData("alerts.disk", "alerts.disk.full", false)]
    [InlineData("alerts.*", "alerts.disk", true)]
    [InlineData("alerts.*", "alerts.disk.full", false)]
    [InlineData("alerts.*", "alerts", false)]
    [InlineData("*.disk.*", "alerts.disk.full", true)]
    [InlineData("*.disk.*", "alerts.cpu.full", false)]
    [InlineData("*", "alerts", true)]
    [InlineData("*", "alerts.disk", false)]
    [InlineData("alerts.>", "alerts.disk", true)]
    [InlineData("alerts.>", "alerts.disk.full.now", true)]
    [InlineData("alerts.>", "alerts", false)]
    [InlineData(">", "a", true)]
    [InlineData(">", "a.b.c", true)]
    [InlineData("*.>", "a", false)]
    [InlineData("*.>", "a.b", true)]
    [InlineData("a.*.>", "a.b.c", true)]
    [InlineData("a.*.>", "a.b", false)]
    [InlineData("Alerts.disk", "alerts.disk", false)]
    [InlineData("alerts.disk", "alerts.diskfull", false)]
    [InlineData("alerts.dis", "alerts.disk", false)]
    [InlineData("users.changed", "users.changed", true)]
    public void Matches_like_nats(string pattern, string subject, bool expected)
    {
        Assert.True(EventSubjects.IsValidPattern(pattern));
        Assert.True(EventSubjects.IsValidSubject(subject));
        Assert.Equal(expected, EventSubjects.Matches(pattern, subject));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("alerts..disk", "may not be empty")]
    [InlineData(".alerts", "may not be empty")]
    [InlineData("alerts.", "may not be empty")]
    [InlineData("alerts.disk full", "whitespace")]
    [InlineData("alerts.*", "wildcards")]
    [InlineData("alerts.>", "wildcards")]
    [InlineData("alerts.di*", "wildcards")]
    public void Invalid_subjects_are_refused_with_a_reason(string subject, string reason)
    {
        Assert.False(EventSubjects.IsValidSubject(subject));
        var e = Assert.Throws<ArgumentException>(() => EventSubjects.ValidateSubject(subject));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alerts.>.disk", "only be the last token")]
    [InlineData(">.a", "only be the last token")]
    [InlineData("alerts.di*", "whole token")]
    [InlineData("alerts.>>", "whole token")]
    [InlineData("a..b", "may not be empty")]
    [InlineData("a.\tb", "whitespace")]
    public void Invalid_patterns_are_refused_with_a_reason(string pattern, string reason)
    {
        Assert.False(EventSubjects.IsValidPattern(pattern));
        var e = Assert.Throws<ArgumentException>(() => EventSubjects.ValidatePattern(pattern));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlong_subjects_are_refused()
    {
        var subject = string.Join('.', Enumerable.Repeat("abcdefgh", 40));
        Assert.Contains("longer than", Assert.Throws<ArgumentException>(() => EventSubjects.ValidateSubject(subject)).Message, StringComparison.Ordinal);
    }
}

public sealed class EventTests
{
    [Fact]
    public async Task A_durable_handler_gets_the_payload_services_and_event_context()
    {
        var seen = new ConcurrentQueue<(Alert Alert, EventContext Context, bool HasClient)>();
        await using var h = new WorkerHarness(c => c.MapSubscription("alerts.>", (Alert alert, EventContext ctx, ITaskClient client) =>
            seen.Enqueue((alert, ctx, client is not null)), durable: "pager"));
        await h.StartEventsAsync();
        h.Start();

        var receipt = await h.Events.PublishAsync("alerts.disk.full", new Alert("disk 97%", 2));
        Assert.Equal(["pager"], receipt.Subscriptions);
        await Eventually.TrueAsync(() => !seen.IsEmpty);
        var (alert, ctx, hasClient) = Assert.Single(seen);
        Assert.Equal(new Alert("disk 97%", 2), alert);
        Assert.True(hasClient);
        Assert.Equal(receipt.Id, ctx.Id);
        Assert.Equal("alerts.disk.full", ctx.Subject);
        Assert.Equal("pager", ctx.Subscription);
        Assert.Equal(h.Time.GetUtcNow(), ctx.PublishedAt);
        Assert.Equal(1, ctx.DeliveryCount);
        Assert.Equal(0, ctx.Retries);
        // Events keep no results.
        Assert.Null(await h.Results.GetAsync(receipt.Id));
    }

    [Fact]
    public async Task Events_are_queued_for_matching_durable_subscriptions_only_and_each_gets_every_event()
    {
        var a = new ConcurrentQueue<string>();
        var b = new ConcurrentQueue<string>();
        await using var h = new WorkerHarness(c =>
        {
            c.MapSubscription("users.*", (EventContext ctx) => a.Enqueue(ctx.Subject), durable: "replica-eu");
            c.MapSubscription("users.changed", (EventContext ctx) => b.Enqueue(ctx.Subject), durable: "replica-us");
        });
        await h.StartEventsAsync();

        Assert.Equal(["replica-eu", "replica-us"], (await h.Events.PublishAsync("users.changed", new { id = 1 })).Subscriptions.Order());
        Assert.Equal(["replica-eu"], (await h.Events.PublishAsync("users.deleted", new { id = 2 })).Subscriptions);
        Assert.Empty((await h.Events.PublishAsync("orders.created", new { id = 3 })).Subscriptions);

        // Queued while no worker runs: nothing is lost.
        var stats = await h.Transport.GetQueueStatsAsync();
        Assert.Equal(2, stats.Single(s => s.Queue == "events:replica-eu").Ready);
        Assert.Equal(1, stats.Single(s => s.Queue == "events:replica-us").Ready);

        h.Start();
        await Eventually.TrueAsync(() => a.Count == 2 && b.Count == 1);
        // Handlers run in parallel up to the worker's concurrency: received in order, finished in any order.
        Assert.Equal(["users.changed", "users.deleted"], a.Order(StringComparer.Ordinal));
        Assert.Equal(["users.changed"], b);
    }

    [Fact]
    public async Task A_failing_handler_is_retried_then_dead_lettered_while_the_other_events_flow()
    {
        var handled = new ConcurrentQueue<int>();
        var tries = new ConcurrentDictionary<int, int>();
        await using var h = new WorkerHarness(c => c.MapSubscription("jobs.done", (int n) =>
        {
            tries.AddOrUpdate(n, 1, (_, t) => t + 1);
            if (n % 4 == 0) throw new InvalidOperationException($"cannot handle {n}");
            handled.Enqueue(n);
        }, durable: "audit").Retry([typeof(InvalidOperationException)], backoff: TimeSpan.FromSeconds(1), maxRetries: 2, jitter: false));
        await h.StartEventsAsync();
        h.Start();

        for (var n = 1; n <= 12; n++) await h.Events.PublishAsync("jobs.done", n);
        await Eventually.TrueAsync(() => handled.Count == 9);
        for (var i = 0; i < 20 && (await h.Transport.GetDeadLettersAsync(10)).Count < 3; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }

        var dead = await h.Transport.GetDeadLettersAsync(10);
        Assert.Equal(3, dead.Count);
        Assert.All(dead, d =>
        {
            Assert.Equal("max-retries", d.Info.Reason);
            Assert.Equal("InvalidOperationException", d.Info.ErrorType);
            Assert.Equal("events:audit", d.Queue);
        });
        Assert.Equal([4, 8, 12], dead.Select(d => int.Parse(d.Info.ErrorMessage.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)).Order());
        Assert.Equal(3, tries[4]);
        Assert.Equal([1, 2, 3, 5, 6, 7, 9, 10, 11], handled.Order());
    }

    [Fact]
    public async Task A_payload_that_does_not_bind_and_a_body_that_is_not_json_are_dead_lettered_with_a_reason()
    {
        var handled = new ConcurrentQueue<Alert>();
        await using var h = new WorkerHarness(c => c.MapSubscription("alerts.>", (Alert alert) => handled.Enqueue(alert), durable: "pager"));
        await h.StartEventsAsync();
        h.Start();

        await h.Events.PublishAsync("alerts.disk", "just some text");
        await h.Transport.EnqueueAsync([new OutgoingMessage("junk", "events:pager", 0, "{not json")]);
        await h.Events.PublishAsync("alerts.cpu", new Alert("cpu hot", 1));

        await Eventually.TrueAsync(() => handled.Count == 1 && h.Transport.GetDeadLettersAsync(10).AsTask().Result.Count == 2);
        var dead = await h.Transport.GetDeadLettersAsync(10);
        var badArgs = dead.Single(d => d.Info.Reason == "bad-arguments");
        Assert.Contains("argument 'alert' expects Alert but got \"just some text\"", badArgs.Info.ErrorMessage, StringComparison.Ordinal);
        var malformed = dead.Single(d => d.Info.Reason == "malformed");
        Assert.Equal("junk", malformed.Id);
        Assert.Equal(new Alert("cpu hot", 1), Assert.Single(handled));
        Assert.Null(await h.Results.GetAsync("junk"));
    }

    [Fact]
    public async Task A_task_publishes_an_event_whose_handler_sends_a_task()
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("users.rename", async (int id, string name, IEventBus events) => await events.PublishAsync("users.changed", new { id, name }));
            c.MapSubscription("users.changed", async (JsonElement user, ITaskClient tasks) =>
                await tasks.SendAsync("users.notify", new { name = user.GetProperty("name").GetString() }), durable: "notifier");
            c.MapTask("users.notify", (string name) => done.TrySetResult(name));
        });
        await h.StartEventsAsync();
        h.Start();

        await h.Client.SendAsync("users.rename", new { id = 7, name = "Alice" });
        Assert.Equal("Alice", await done.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task An_ephemeral_listener_gets_only_what_is_published_while_it_listens()
    {
        await using var h = new WorkerHarness(_ => { });
        await h.Events.PublishAsync("alerts.early", 0);

        using var stop = new CancellationTokenSource();
        var received = new List<EventMessage>();
        var ready = new TaskCompletionSource();
        var listening = Task.Run(async () =>
        {
            var events = h.Events.SubscribeAsync("alerts.*", stop.Token);
            await using var e = events.GetAsyncEnumerator(stop.Token);
            var move = e.MoveNextAsync();
            ready.SetResult();
            while (await move)
            {
                received.Add(e.Current);
                move = e.MoveNextAsync();
            }
        });
        await ready.Task;
        await Eventually.TrueAsync(async () =>
        {
            await h.Events.PublishAsync("alerts.probe", -1);
            return received.Count > 0;
        });
        await h.Events.PublishAsync("alerts.one", 1);
        await h.Events.PublishAsync("other.two", 2);
        await h.Events.PublishAsync("alerts.three", new Alert("three", 3));
        await Eventually.TrueAsync(() => received.Any(m => m.Subject == "alerts.three"));
        await stop.CancelAsync();
        await listening.WaitAsync(TimeSpan.FromSeconds(5));

        var real = received.Where(m => m.Subject != "alerts.probe").ToList();
        Assert.Equal(["alerts.one", "alerts.three"], real.Select(m => m.Subject));
        Assert.Equal(1, real[0].GetPayload<int>());
        Assert.Equal(new Alert("three", 3), real[1].GetPayload<Alert>());
        Assert.Equal(h.Time.GetUtcNow(), real[1].PublishedAt);
    }

    [Fact]
    public async Task An_ephemeral_handler_runs_for_each_event_and_a_failure_does_not_stop_it()
    {
        var seen = new ConcurrentQueue<string>();
        await using var h = new WorkerHarness(c => c.MapSubscription("alerts.>", (Alert alert, EventContext ctx) =>
        {
            if (alert.Level > 5) throw new InvalidOperationException("too loud");
            seen.Enqueue($"{ctx.Subject}:{alert.Text}:{ctx.Subscription ?? "ephemeral"}");
        }));
        await h.StartEventsAsync();

        await Eventually.TrueAsync(async () =>
        {
            await h.Events.PublishAsync("alerts.probe", new Alert("probe", 0));
            return !seen.IsEmpty;
        });
        await h.Events.PublishAsync("alerts.a", new Alert("one", 1));
        await h.Events.PublishAsync("alerts.b", new Alert("boom", 9));
        await h.Events.PublishAsync("alerts.c", "not an alert");
        await h.Events.PublishAsync("alerts.d", new Alert("two", 2));
        await Eventually.TrueAsync(() => seen.Any(s => s.StartsWith("alerts.d", StringComparison.Ordinal)));
        Assert.Equal(["alerts.a:one:ephemeral", "alerts.d:two:ephemeral"], seen.Where(s => !s.StartsWith("alerts.probe", StringComparison.Ordinal)));
        Assert.Empty(await h.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task Bad_subjects_names_and_sizes_are_refused_with_clear_errors()
    {
        await using var h = new WorkerHarness(c => c.MapSubscription("a.b", () => { }, durable: "one"));
        Assert.Contains("Invalid subject", (await Assert.ThrowsAsync<ArgumentException>(() => h.Events.PublishAsync("alerts.*", 1).AsTask())).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => h.Events.SubscribeAsync("a.>.b"));
        await Assert.ThrowsAsync<MessageTooLargeException>(() => h.Events.PublishAsync("big.one", new string('x', 2_000_000)).AsTask());

        var builder = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddCeleriac(c => c.UseInMemory());
        builder.MapSubscription("a.b", () => { }, durable: "dup");
        Assert.Contains("already mapped", Assert.Throws<InvalidOperationException>(() => builder.MapSubscription("a.c", () => { }, durable: "dup")).Message, StringComparison.Ordinal);
        Assert.Contains("Invalid durable subscription name", Assert.Throws<ArgumentException>(() => builder.MapSubscription("a.c", () => { }, durable: "has space")).Message, StringComparison.Ordinal);
        Assert.Contains("Invalid subject pattern", Assert.Throws<ArgumentException>(() => builder.MapSubscription("a.*x", () => { })).Message, StringComparison.Ordinal);
    }
}
