using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Hosting.Tests;

public sealed partial class EventCommandTests
{
    [Theory]
    [InlineData(new[] { "send", "--on", "alerts.disk", "disk full" }, "\"disk full\"")]
    [InlineData(new[] { "send", "--on", "alerts.disk", "--json", "{\"host\": \"db1\", \"free\": [0.02]}" }, "{\"host\":\"db1\",\"free\":[0.02]}")]
    [InlineData(new[] { "send", "--on", "alerts.disk", "--json", "\"quoted\"" }, "\"quoted\"")]
    [InlineData(new[] { "send", "--on", "alerts.disk" }, "null")]
    public async Task Send_publishes_the_payload_and_prints_the_event_id(string[] args, string payload)
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "pager", "alerts.>");

        var run = await app.RunAsync(args);

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        var id = Assert.Single(run.OutLines);
        Assert.Contains("Queued for 1 durable subscription(s): pager", run.Err, StringComparison.Ordinal);
        var leased = Assert.Single(await app.Transport.ReceiveAsync(["events:pager"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero));
        Assert.Equal($"{id}:pager", leased.Id);
        using var body = JsonDocument.Parse(leased.Body);
        Assert.Equal("alerts.disk", body.RootElement.GetProperty("subject").GetString());
        Assert.Equal(payload, JsonSerializer.Serialize(body.RootElement.GetProperty("args")[0]));
    }

    [Fact]
    public async Task Send_reports_every_durable_subscription_it_was_queued_for_or_none()
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "pager", "alerts.>");
        await SaveSubscriptionAsync(app, "audit", "alerts.*.full");
        await SaveSubscriptionAsync(app, "users", "users.*");

        var both = await app.RunAsync("send", "--on", "alerts.disk.full", "x");
        var none = await app.RunAsync("send", "--on", "orders.created");

        Assert.True(both.ExitCode == CeleriacExitCodes.Success, both.ToString());
        Assert.Matches("Queued for 2 durable subscription\\(s\\): (audit, pager|pager, audit)", both.Err);
        Assert.True(none.ExitCode == CeleriacExitCodes.Success, none.ToString());
        Assert.Single(none.OutLines);
        Assert.Contains("No durable subscription matched orders.created", none.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "send", "--on", "alerts.disk", "text", "--json", "1" }, "not both")]
    [InlineData(new[] { "send", "--on", "alerts.disk", "--json", "{\"a\": " }, "--json is not valid JSON:")]
    [InlineData(new[] { "send", "--on", "alerts.*", "x" }, "Invalid subject 'alerts.*': a subject may not contain the wildcards")]
    [InlineData(new[] { "send", "--on", "alerts..disk" }, "Invalid subject 'alerts..disk': tokens between dots may not be empty.")]
    [InlineData(new[] { "send", "hello" }, "--on")]
    [InlineData(new[] { "listen", "--on", "a.>.b" }, "Invalid subject pattern 'a.>.b': '>' may only be the last token.")]
    [InlineData(new[] { "listen", "--on", "a.b", "--durable", "has space" }, "Invalid durable subscription name 'has space'")]
    [InlineData(new[] { "listen", "--on", "a.b", "--count", "0" }, "--count must be at least 1")]
    [InlineData(new[] { "listen" }, "--on")]
    public async Task Bad_event_input_exits_2_with_a_clear_message_and_publishes_nothing(string[] args, string message)
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "all", ">");

        var run = await app.RunAsync(args);

        Assert.True(run.ExitCode == CeleriacExitCodes.UsageError, run.ToString());
        Assert.Contains(message, run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", run.Err, StringComparison.Ordinal);
        Assert.Empty(run.Out);
        Assert.DoesNotContain(await app.Transport.GetQueueStatsAsync(), q => q.Ready > 0);
    }

    [Fact]
    public async Task Listen_prints_the_matching_events_published_after_it_starts_as_time_subject_payload()
    {
        await using var app = new CliApp();

        var run = await RunWhilePublishingAsync(app, ["listen", "--on", "alerts.>", "--count", "3"]);

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains("Listening on alerts.> (ephemeral;", run.Err, StringComparison.Ordinal);
        Assert.Equal(3, run.OutLines.Length);
        foreach (var line in run.OutLines) Assert.Matches(TimeFirst(), line);
        // Any 3 consecutive matching events of the rounds are one of each kind, in some rotation.
        string[] expected = ["alerts.disk.full {\"host\":\"db1\",\"free\":[0.02]}", "alerts.note hello world", "alerts.ping null"];
        Assert.Equal(expected, run.OutLines.Select(l => l[13..]).Order(StringComparer.Ordinal));
        Assert.DoesNotContain("other.", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listen_json_prints_one_parseable_object_per_line()
    {
        await using var app = new CliApp();

        var run = await RunWhilePublishingAsync(app, ["listen", "--on", "alerts.>", "--count", "3", "--json"]);

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Equal(3, run.OutLines.Length);
        var payloads = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in run.OutLines)
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            Assert.False(string.IsNullOrEmpty(root.GetProperty("id").GetString()));
            Assert.EndsWith("Z", root.GetProperty("published").GetString(), StringComparison.Ordinal);
            var published = root.GetProperty("published").GetDateTimeOffset();
            Assert.True(Math.Abs((DateTimeOffset.UtcNow - published).TotalMinutes) < 5, line);
            payloads[root.GetProperty("subject").GetString()!] = root.GetProperty("payload").GetRawText();
        }
        Assert.Equal("{\"host\":\"db1\",\"free\":[0.02]}", payloads["alerts.disk.full"]);
        Assert.Equal("\"hello world\"", payloads["alerts.note"]);
        Assert.Equal("null", payloads["alerts.ping"]);
    }

    [Fact]
    public async Task Listen_stops_on_ctrl_c_with_exit_0()
    {
        await using var app = new CliApp();
        foreach (var args in new[] { new[] { "listen", "--on", "a.>" }, ["listen", "--on", "a.>", "--durable", "quiet"] })
        {
            var (console, writer) = SynchronizedConsole();
            using var stop = new CancellationTokenSource();
            var run = app.Host.RunCeleriacAsync(args, console, cancellationToken: stop.Token);
            await WaitUntilAsync(() => Task.FromResult(run.IsCompleted || Read(writer).Contains("Listening on", StringComparison.Ordinal)));
            await stop.CancelAsync();

            Assert.Equal(CeleriacExitCodes.Success, await run.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.DoesNotContain("Interrupted", Read(writer), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Listen_durable_saves_the_subscription_then_drains_events_published_while_nobody_listened()
    {
        await using var app = new CliApp();

        // A first run saves the subscription (and prints one event published after it started).
        var first = await RunWhilePublishingAsync(app, ["listen", "--on", "alerts.>", "--durable", "pager", "--count", "1"]);
        Assert.True(first.ExitCode == CeleriacExitCodes.Success, first.ToString());
        Assert.Contains("Listening on alerts.> (durable subscription 'pager', queue events:pager;", first.Err, StringComparison.Ordinal);
        var saved = Assert.Single(await app.Host.Services.GetRequiredService<IEventStore>().GetSubscriptionsAsync());
        Assert.Equal(("pager", "alerts.>", "events:pager"), (saved.Name, saved.Pattern, saved.Queue));
        await app.Transport.PurgeAsync("events:pager");

        // Nobody listens: the events wait in the subscription's queue, a malformed message among them.
        var bus = app.Host.Services.GetRequiredService<IEventBus>();
        var one = await bus.PublishAsync("alerts.one", "first");
        await app.Transport.EnqueueAsync([new OutgoingMessage("junk-1", "events:pager", 0, "{not json")]);
        var two = await bus.PublishAsync("alerts.two", new { n = 2 });
        await bus.PublishAsync("other.three", 3);
        var three = await bus.PublishAsync("alerts.three");
        Assert.Equal(new[] { "pager" }, one.Subscriptions);

        var run = await app.RunAsync("listen", "--on", "alerts.>", "--durable", "pager", "--count", "3", "--json");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Equal(new[] { one.Id, two.Id, three.Id }, run.OutLines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()));
        Assert.Contains("Warning: message junk-1 in events:pager is not an event", run.Err, StringComparison.Ordinal);
        var stats = Assert.Single(await app.Transport.GetQueueStatsAsync(), q => q.Queue == "events:pager");
        Assert.Equal((0L, 0L, 0L, 1L), (stats.Ready, stats.Delayed, stats.Leased, stats.DeadLetters));
        var dead = Assert.Single(await app.Transport.GetDeadLettersAsync(10));
        Assert.Equal(("junk-1", "malformed"), (dead.Id, dead.Info.Reason));
    }

    [Fact]
    public async Task Listen_durable_with_a_count_leaves_the_rest_queued_for_the_next_run()
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "pager", "alerts.>");
        var bus = app.Host.Services.GetRequiredService<IEventBus>();
        for (var i = 1; i <= 5; i++) await bus.PublishAsync("alerts.n", i);

        var firstTwo = await app.RunAsync("listen", "--on", "alerts.>", "--durable", "pager", "--count", "2");
        var lastThree = await app.RunAsync("listen", "--on", "alerts.>", "--durable", "pager", "--count", "3");

        Assert.True(firstTwo.ExitCode == CeleriacExitCodes.Success, firstTwo.ToString());
        Assert.Equal(new[] { "alerts.n 1", "alerts.n 2" }, firstTwo.OutLines.Select(l => l[13..]));
        Assert.True(lastThree.ExitCode == CeleriacExitCodes.Success, lastThree.ToString());
        Assert.Equal(new[] { "alerts.n 3", "alerts.n 4", "alerts.n 5" }, lastThree.OutLines.Select(l => l[13..]));
        Assert.DoesNotContain(await app.Transport.GetQueueStatsAsync(), q => q.Ready + q.Delayed + q.Leased > 0);
    }

    [Fact]
    public async Task Listen_durable_refuses_a_name_this_app_maps_with_another_pattern()
    {
        await using var app = new CliApp(c => c.MapSubscription("alerts.>", () => { }, durable: "pager"));

        var run = await app.RunAsync("listen", "--on", "users.*", "--durable", "pager");

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains("maps the durable subscription 'pager' with the pattern alerts.>", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_lists_durable_subscriptions_with_their_queue_depth_and_dead_letters()
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "pager", "alerts.>");
        await SaveSubscriptionAsync(app, "idle", "users.*");
        await app.Transport.EnqueueAsync([new OutgoingMessage("junk-1", "events:pager", 0, "[]")]);
        var bus = app.Host.Services.GetRequiredService<IEventBus>();
        await bus.PublishAsync("alerts.a", 1);
        var drained = await app.RunAsync("listen", "--on", "alerts.>", "--durable", "pager", "--count", "1");
        Assert.True(drained.ExitCode == CeleriacExitCodes.Success, drained.ToString());
        await bus.PublishAsync("alerts.b", 2);
        await bus.PublishAsync("alerts.c", 3);

        var run = await app.RunAsync("inspect");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        var flat = CliApp.Flatten(run.Out);
        Assert.Contains("Durable subscriptions", flat, StringComparison.Ordinal);
        // The oldest ready event's age is on the real clock: some milliseconds or seconds.
        Assert.Matches(@"\| pager \| alerts\.> \| 2 \| [0-9.,]+ (ms|s) \| 1 \|", flat);
        Assert.Contains("| idle | users.* | 0 | - | 0 |", flat, StringComparison.Ordinal);
        Assert.Matches(@"\| events:pager \| 2 \| 0 \| 0 \| 1 \| [0-9.,]+ (ms|s) \|", flat);
    }

    [Fact]
    public async Task Inspect_without_durable_subscriptions_says_so()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("inspect");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains("(no durable subscriptions)", run.Out, StringComparison.Ordinal);
    }

    /// <summary>
    /// Runs a listen command in the background and publishes rounds of events until it exits: each round is one
    /// event of each kind on alerts.* (object, text, none) and one on other.* that must not match.
    /// </summary>
    private static async Task<CommandRun> RunWhilePublishingAsync(CliApp app, string[] args)
    {
        var (output, outWriter) = CliApp.RecordingConsole();
        var (error, errWriter) = CliApp.RecordingConsole();
        var run = app.Host.RunCeleriacAsync(args, output, error);
        var bus = app.Host.Services.GetRequiredService<IEventBus>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!run.IsCompleted)
        {
            await bus.PublishAsync("alerts.disk.full", JsonDocument.Parse("{\"host\": \"db1\", \"free\": [0.02]}").RootElement);
            await bus.PublishAsync("other.disk.full", "not for alerts.>");
            await bus.PublishAsync("alerts.note", "hello world");
            await bus.PublishAsync("alerts.ping");
            await Task.WhenAny(run, Task.Delay(20, timeout.Token));
        }
        var code = await run;
        return new CommandRun(code, Read(outWriter), Read(errWriter));
    }

    [Fact]
    public async Task Unsubscribe_removes_the_subscription_and_its_waiting_events_and_later_publishes_skip_it()
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "replica", "users.>");
        await SaveSubscriptionAsync(app, "audit", "users.>");
        var bus = app.Host.Services.GetRequiredService<IEventBus>();
        for (var i = 0; i < 3; i++) await bus.PublishAsync("users.changed", i);

        var run = await app.RunAsync("unsubscribe", "replica", "--yes");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains("Removed durable subscription 'replica' (users.>) and 3 waiting event(s) of queue 'events:replica'.", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("maps durable subscription", run.Err, StringComparison.Ordinal);
        var receipt = await bus.PublishAsync("users.changed", 4);
        Assert.Equal(["audit"], receipt.Subscriptions);
        var store = app.Host.Services.GetRequiredService<IEventStore>();
        Assert.Equal(["audit"], (await store.GetSubscriptionsAsync()).Select(s => s.Name));
        var stats = (await app.Transport.GetQueueStatsAsync()).ToDictionary(q => q.Queue, q => q.Ready);
        Assert.Equal(4, stats["events:audit"]);
        Assert.Equal(0, stats.GetValueOrDefault("events:replica"));
    }

    [Fact]
    public async Task Unsubscribe_with_keep_queue_leaves_the_queued_events()
    {
        await using var app = new CliApp();
        await SaveSubscriptionAsync(app, "replica", "users.>");
        await app.Host.Services.GetRequiredService<IEventBus>().PublishAsync("users.changed", 1);

        var run = await app.RunAsync("unsubscribe", "replica", "--keep-queue", "--yes");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains("its queue 'events:replica' is kept", run.Out, StringComparison.Ordinal);
        Assert.Empty(await app.Host.Services.GetRequiredService<IEventStore>().GetSubscriptionsAsync());
        Assert.Equal(1, Assert.Single(await app.Transport.GetQueueStatsAsync(), q => q.Queue == "events:replica").Ready);
    }

    [Fact]
    public async Task Unsubscribe_of_an_unknown_or_invalid_name_fails_clearly_and_a_mapped_one_warns()
    {
        await using var app = new CliApp();
        app.Host.MapSubscription("users.>", (int n) => { }, durable: "replica");
        await SaveSubscriptionAsync(app, "replica", "users.>");

        var unknown = await app.RunAsync("unsubscribe", "nobody", "--yes");
        var invalid = await app.RunAsync("unsubscribe", "has space", "--yes");
        var mapped = await app.RunAsync("unsubscribe", "replica", "--yes");

        Assert.True(unknown.ExitCode == CeleriacExitCodes.NotFound, unknown.ToString());
        Assert.Contains("No durable subscription named 'nobody'.", unknown.Err, StringComparison.Ordinal);
        Assert.True(invalid.ExitCode == CeleriacExitCodes.UsageError, invalid.ToString());
        Assert.Contains("Invalid durable subscription name 'has space'", invalid.Err, StringComparison.Ordinal);
        Assert.True(mapped.ExitCode == CeleriacExitCodes.Success, mapped.ToString());
        Assert.Contains("this application maps durable subscription 'replica'", mapped.Err, StringComparison.Ordinal);
    }

    private static async Task SaveSubscriptionAsync(CliApp app, string name, string pattern) =>
        await app.Host.Services.GetRequiredService<IEventStore>().SaveSubscriptionAsync(
            new DurableSubscription(name, pattern, "events:" + name, DateTimeOffset.UtcNow));

    private static string Read(TextWriter writer)
    {
        lock (writer) return writer.ToString()!;
    }

    /// <summary>A recording console whose text can be read while a command still writes to it.</summary>
    private static (Spectre.Console.IAnsiConsole Console, TextWriter Writer) SynchronizedConsole()
    {
        var inner = new StringWriter();
        var writer = new LockedWriter(inner);
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.No,
            Out = new Spectre.Console.AnsiConsoleOutput(writer),
        });
        return (console, writer);
    }

    /// <summary>Writes and reads under a lock on itself.</summary>
    private sealed class LockedWriter(StringWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            lock (this) inner.Write(value);
        }

        public override void Write(string? value)
        {
            lock (this) inner.Write(value);
        }

        public override void WriteLine(string? value)
        {
            lock (this) inner.WriteLine(value);
        }

        public override string ToString()
        {
            lock (this) return inner.ToString();
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!await condition()) await Task.Delay(20, timeout.Token);
    }

    [GeneratedRegex("^\\d\\d:\\d\\d:\\d\\d\\.\\d\\d\\d ")]
    private static partial Regex TimeFirst();
}
