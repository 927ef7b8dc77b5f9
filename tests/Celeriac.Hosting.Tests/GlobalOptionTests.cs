using System.CommandLine;
using Celeriac.Hosting.CommandLine;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.Hosting.Tests;

/// <summary>
/// Host switches and settings (which the host builder has already read) and <c>--redis</c> given before the command
/// name: every command the command line defines still runs as itself, and only <c>all</c> and <c>web</c> start the
/// host. The commands are read from the command tree, so a command added there without a case here fails.
/// </summary>
[Collection(RedisEnvironment.Collection)]
public sealed class GlobalOptionTests
{
    private static readonly string[][] Prefixes =
    [
        ["--environment", "Test"],
        [
            "--environment=Test", "--urls", "http://127.0.0.1:0", "--contentRoot", Path.GetTempPath(), "--applicationName", "Cli",
            "--Some:Key", "1", "--Other:Key=2", "Third:Key=3", "/Fourth:Key=4", "-Fifth:Key=5", "--redis", "127.0.0.1:6390",
        ],
    ];

    public static TheoryData<string, int> EveryCommandWithEachPrefix()
    {
        var data = new TheoryData<string, int>();
        foreach (var path in CommandPaths())
            for (var p = 0; p < Prefixes.Length; p++) data.Add(path, p);
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryCommandWithEachPrefix))]
    public async Task Global_options_before_the_command_name_run_that_command_not_the_host(string command, int prefix)
    {
        Assert.True(Scenarios.TryGetValue(command, out var scenario), $"No case for the command '{command}': add one to {nameof(Scenarios)}.");
        var before = Environment.GetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable);
        try
        {
            await scenario(Prefixes[prefix]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable, before);
        }
    }

    [Fact]
    public void Every_command_of_the_tree_has_a_case_and_every_case_a_command()
    {
        Assert.Equal(Scenarios.Keys.Order(StringComparer.Ordinal), CommandPaths().Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "--environment", "X", "unsubscribe", "replica" }, 2)]
    [InlineData(new[] { "--environment=X", "k=v", "/a:b=c", "listen", "--on", "a" }, 3)]
    [InlineData(new[] { "--environment", "worker" }, -1)]              // the value of --environment, as the host reads it
    [InlineData(new[] { "--environment", "worker", "call", "t" }, 2)]
    [InlineData(new[] { "-c", "4", "worker" }, -1)]                    // not a host setting: the parser reports it
    [InlineData(new[] { "wrker", "inspect" }, -1)]
    [InlineData(new[] { "--help", "inspect" }, -1)]
    [InlineData(new[] { "call", "inspect" }, 0)]
    public void The_command_is_the_first_command_name_after_host_settings(string[] args, int expected)
    {
        Assert.Equal(expected, CeleriacCommandLine.FindCommand(CommandTree(), args, out _));
    }

    /// <summary>One case per command path: it arranges, runs the command after the prefix and checks what it did.</summary>
    private static readonly Dictionary<string, Func<string[], Task>> Scenarios = new(StringComparer.Ordinal)
    {
        ["all"] = async prefix =>
        {
            await using var app = new CliApp();
            var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await using var run = Background.Start(app, [.. prefix, "all"]);
            await Eventually(() => Task.FromResult(HostStarted(app)));
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(20)))?.State);
            await run.StopAsync();
        },
        ["web"] = async prefix =>
        {
            await using var app = new CliApp();
            var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await using var run = Background.Start(app, [.. prefix, "web"]);
            await Eventually(() => Task.FromResult(HostStarted(app)));
            Assert.Null(await handle.WaitAsync(TimeSpan.FromMilliseconds(500)));
            await run.StopAsync();
        },
        ["worker"] = async prefix =>
        {
            await using var app = new CliApp();
            var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await using var run = Background.Start(app, [.. prefix, "worker", "-c", "2"]);
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(20)))?.State);
            Assert.False(HostStarted(app));
            await run.StopAsync();
        },
        ["beat"] = async prefix =>
        {
            await using var app = new CliApp(c => c.MapSchedule("fast", "math.add", TimeSpan.FromMilliseconds(100), new[] { 1, 2 }));
            await using var run = Background.Start(app, [.. prefix, "beat"]);
            await Eventually(async () => (await app.Transport.GetQueueStatsAsync()).Sum(q => q.Ready) >= 1);
            Assert.False(HostStarted(app));
            await run.StopAsync();
        },
        ["call"] = async prefix =>
        {
            await using var app = new CliApp();
            var run = await RunAsync(app, prefix, "call", "math.add", "--args", "[1, 2]");
            var id = Assert.Single(run.OutLines);
            var leased = Assert.Single(await app.Transport.ReceiveAsync(["default"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero));
            Assert.Equal(id, leased.Id);
        },
        ["inspect"] = async prefix =>
        {
            await using var app = new CliApp();
            await app.Client.SendAsync("math.add", new[] { 1, 2 });
            var run = await RunAsync(app, prefix, "inspect");
            Assert.Contains("| default | 1 |", CliApp.Flatten(run.Out), StringComparison.Ordinal);
            Assert.Contains("math.fail", run.Out, StringComparison.Ordinal);
        },
        ["purge"] = async prefix =>
        {
            await using var app = new CliApp();
            await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await RunAsync(app, prefix, "purge", "default", "--yes");
            Assert.DoesNotContain(await app.Transport.GetQueueStatsAsync(), q => q.Ready > 0);
        },
        ["revoke"] = async prefix =>
        {
            await using var app = new CliApp();
            var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await RunAsync(app, prefix, "revoke", handle.Id);
            Assert.Equal(TaskStates.Revoked, (await app.Host.Services.GetRequiredService<IResultStore>().GetAsync(handle.Id))?.State);
        },
        ["schedule list"] = async prefix =>
        {
            await using var app = new CliApp(c => c.MapSchedule("code.tick", "math.add", TimeSpan.FromMinutes(5), new[] { 1, 2 }));
            var run = await RunAsync(app, prefix, "schedule", "list");
            Assert.Contains("| code.tick | every 5 min | math.add |", CliApp.Flatten(run.Out), StringComparison.Ordinal);
        },
        ["schedule add"] = async prefix =>
        {
            await using var app = new CliApp();
            await RunAsync(app, prefix, "schedule", "add", "s", "math.add", "--every", "60");
            Assert.Equal("s", Assert.Single(await Schedules(app)).Name);
        },
        ["schedule pause"] = async prefix =>
        {
            await using var app = await WithScheduleAsync();
            await RunAsync(app, prefix, "schedule", "pause", "s");
            Assert.True(Assert.Single(await Schedules(app)).Paused);
        },
        ["schedule resume"] = async prefix =>
        {
            await using var app = await WithScheduleAsync();
            Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "pause", "s")).ExitCode);
            await RunAsync(app, prefix, "schedule", "resume", "s");
            Assert.False(Assert.Single(await Schedules(app)).Paused);
        },
        ["schedule remove"] = async prefix =>
        {
            await using var app = await WithScheduleAsync();
            await RunAsync(app, prefix, "schedule", "remove", "s");
            Assert.Empty(await Schedules(app));
        },
        ["send"] = async prefix =>
        {
            await using var app = new CliApp();
            await SaveSubscriptionAsync(app, "pager", "alerts.>");
            var run = await RunAsync(app, prefix, "send", "--on", "alerts.disk", "full");
            var id = Assert.Single(run.OutLines);
            Assert.Equal($"{id}:pager", Assert.Single(await app.Transport.ReceiveAsync(["events:pager"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero)).Id);
        },
        ["listen"] = async prefix =>
        {
            await using var app = new CliApp();
            var (output, writer) = CliApp.RecordingConsole();
            var run = app.Host.RunCeleriacAsync([.. prefix, "listen", "--on", "alerts.>", "--count", "1"], output);
            var bus = app.Host.Services.GetRequiredService<IEventBus>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (!run.IsCompleted)
            {
                await bus.PublishAsync("alerts.note", "heard");
                await Task.WhenAny(run, Task.Delay(20, timeout.Token));
            }
            Assert.True(await run == CeleriacExitCodes.Success, writer.ToString());
            Assert.Contains("alerts.note heard", writer.ToString(), StringComparison.Ordinal);
            Assert.False(HostStarted(app));
        },
        ["workers"] = async prefix =>
        {
            await using var app = new CliApp();
            await using var worker = Background.Start(app, ["worker", "-c", "2"]);
            var id = await LiveProcessAsync(app);
            var run = await RunAsync(app, prefix, "workers");
            Assert.Contains(id, run.Out, StringComparison.Ordinal);
        },
        ["inspect workers"] = async prefix =>
        {
            await using var app = new CliApp();
            await using var worker = Background.Start(app, ["worker", "-c", "2"]);
            var id = await LiveProcessAsync(app);
            var run = await RunAsync(app, prefix, "inspect", "workers", "--json");
            Assert.Contains(id, run.Out, StringComparison.Ordinal);
        },
        ["inspect workers ping"] = async prefix =>
        {
            await using var app = new CliApp();
            await using var worker = Background.Start(app, ["worker", "-c", "2"]);
            var id = await LiveProcessAsync(app);
            var run = await RunAsync(app, prefix, "inspect", "workers", "ping", "--id", id);
            Assert.Contains("pong", run.Out, StringComparison.Ordinal);
        },
        ["inspect workers stop"] = async prefix =>
        {
            await using var app = new CliApp();
            await using var worker = Background.Start(app, ["worker", "-c", "2"]);
            var id = await LiveProcessAsync(app);
            var run = await RunAsync(app, prefix, "inspect", "workers", "stop", id);
            Assert.Contains("stopping", run.Out, StringComparison.Ordinal);
        },
        ["inspect workers concurrency"] = async prefix =>
        {
            await using var app = new CliApp();
            await using var worker = Background.Start(app, ["worker", "-c", "2"]);
            var id = await LiveProcessAsync(app);
            var run = await RunAsync(app, prefix, "inspect", "workers", "concurrency", id, "3");
            Assert.Contains("2 -> 3", run.Out, StringComparison.Ordinal);
        },
        ["inspect workers revoke"] = async prefix =>
        {
            await using var app = new CliApp();
            var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 });
            await RunAsync(app, prefix, "inspect", "workers", "revoke", handle.Id);
            Assert.Equal(TaskStates.Revoked, (await app.Host.Services.GetRequiredService<IResultStore>().GetAsync(handle.Id))?.State);
        },
        ["unsubscribe"] = async prefix =>
        {
            await using var app = new CliApp();
            await SaveSubscriptionAsync(app, "replica", "users.>");
            var run = await RunAsync(app, prefix, "unsubscribe", "replica", "--yes");
            Assert.Contains("Removed durable subscription 'replica'", run.Out, StringComparison.Ordinal);
            Assert.Empty(await app.Host.Services.GetRequiredService<IEventStore>().GetSubscriptionsAsync());
        },
    };

    /// <summary>Runs a one-off command after <paramref name="prefix"/>: it must succeed without starting the host.</summary>
    /// <remarks>Should the host start instead, it is stopped at once and the test fails saying so.</remarks>
    private static async Task<CommandRun> RunAsync(CliApp app, string[] prefix, params string[] command)
    {
        var (output, outWriter) = CliApp.RecordingConsole();
        var (error, errWriter) = CliApp.RecordingConsole();
        using var stop = new CancellationTokenSource();
        var lifetime = app.Host.Services.GetRequiredService<IHostApplicationLifetime>();
        using var onStart = lifetime.ApplicationStarted.Register(stop.Cancel);
        var code = await app.Host.RunCeleriacAsync([.. prefix, .. command], output, error, stop.Token).WaitAsync(TimeSpan.FromSeconds(30));
        var run = new CommandRun(code, outWriter.ToString(), errWriter.ToString());
        Assert.False(HostStarted(app), $"{string.Join(' ', command)} started the host instead of running as itself");
        Assert.True(run.ExitCode == CeleriacExitCodes.Success, $"{string.Join(' ', command)}: {run}");
        return run;
    }

    /// <summary>The id of the one live process, once its heartbeat is in.</summary>
    private static async Task<string> LiveProcessAsync(CliApp app)
    {
        var control = app.Host.Services.GetRequiredService<Celeriac.Operations.IWorkerControl>();
        string? id = null;
        await Eventually(async () => (id = (await control.GetProcessesAsync()).FirstOrDefault(p => p.Roles.Contains("worker"))?.Id) is not null);
        return id!;
    }

    private static bool HostStarted(CliApp app) =>
        app.Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.IsCancellationRequested;

    private static async Task<CliApp> WithScheduleAsync()
    {
        var app = new CliApp();
        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "add", "s", "math.add", "--every", "60")).ExitCode);
        return app;
    }

    private static async Task<IReadOnlyList<StoredSchedule>> Schedules(CliApp app) =>
        await app.Host.Services.GetRequiredService<IScheduleStore>().ListAsync();

    private static async Task SaveSubscriptionAsync(CliApp app, string name, string pattern) =>
        await app.Host.Services.GetRequiredService<IEventStore>().SaveSubscriptionAsync(
            new DurableSubscription(name, pattern, "events:" + name, DateTimeOffset.UtcNow));

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(10);
        }
    }

    private static RootCommand CommandTree()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac(c => c.UseInMemory());
        using var host = builder.Build();
        var (console, _) = CliApp.RecordingConsole();
        return new CeleriacCommandLine(host, console, console).BuildCommands();
    }

    /// <summary>Every runnable command of the tree, as its path (<c>schedule add</c>).</summary>
    private static List<string> CommandPaths()
    {
        var paths = new List<string>();
        void Walk(Command command, string prefix)
        {
            foreach (var sub in command.Subcommands)
            {
                var path = prefix.Length == 0 ? sub.Name : prefix + " " + sub.Name;
                if (sub.Action is not null) paths.Add(path);
                Walk(sub, path);
            }
        }
        Walk(CommandTree(), "");
        return paths;
    }

    /// <summary>A command that runs until stopped (all, web, worker, beat).</summary>
    private sealed class Background : IAsyncDisposable
    {
        private readonly Task<int> _run;
        private readonly CancellationTokenSource _stop = new();
        private readonly StringWriter _output;

        private Background(CliApp app, string[] args)
        {
            (var console, _output) = CliApp.RecordingConsole();
            _run = app.Host.RunCeleriacAsync(args, console, cancellationToken: _stop.Token);
        }

        public static Background Start(CliApp app, string[] args) => new(app, args);

        /// <summary>Stops it as Ctrl-C would; it must exit 0.</summary>
        public async Task StopAsync()
        {
            Assert.False(_run.IsCompleted, $"the command ended before it was stopped:\n{_output}");
            await _stop.CancelAsync();
            Assert.True(await _run.WaitAsync(TimeSpan.FromSeconds(20)) == CeleriacExitCodes.Success, _output.ToString());
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _run.WaitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
            }
            _stop.Dispose();
        }
    }
}

/// <summary>Tests that set <c>CELERIAC_REDIS</c> (through <c>--redis</c>) run one at a time.</summary>
[CollectionDefinition(Collection)]
public sealed class RedisEnvironment
{
    public const string Collection = "CELERIAC_REDIS environment variable";
}
