using Celeriac.Transport;

namespace Celeriac.Hosting.Tests;

public sealed class ScheduleCommandTests
{
    [Fact]
    public async Task Schedules_are_added_listed_paused_resumed_and_removed_from_the_command_line()
    {
        await using var app = new CliApp(c => c.MapSchedule("code.tick", "math.add", TimeSpan.FromMinutes(5), new[] { 1, 2 }));

        var add = await app.RunAsync("schedule", "add", "devices.poll", "math.add", "--every", "0.5", "--args", "[2, 3]", "--queue", "io");
        Assert.True(add.ExitCode == CeleriacExitCodes.Success, add.ToString());
        Assert.Contains("Schedule 'devices.poll' added: every 500 ms -> math.add; next run", add.Out, StringComparison.Ordinal);
        var cron = await app.RunAsync("schedule", "add", "reports.weekly", "reports.build", "--cron", "0 18 * * FRI", "--tz", "Europe/Madrid", "--args", "{\"year\": 2026}", "--missed", "run-once");
        Assert.True(cron.ExitCode == CeleriacExitCodes.Success, cron.ToString());
        Assert.Contains("no task named 'reports.build'", cron.Err, StringComparison.Ordinal);

        var list = CliApp.Flatten((await app.RunAsync("schedule", "list")).Out);
        Assert.Contains("| code.tick | every 5 min | math.add | [1,2] | (task's) | active (code) | - |", list, StringComparison.Ordinal);
        Assert.Contains("| devices.poll | every 500 ms | math.add | [2,3] | io | active | - |", list, StringComparison.Ordinal);
        Assert.Contains("| reports.weekly | cron '0 18 * * FRI' Europe/Madrid | reports.build | {\"year\":2026} | (task's) | active | - |", list, StringComparison.Ordinal);

        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "pause", "devices.poll")).ExitCode);
        Assert.Contains("| devices.poll | every 500 ms | math.add | [2,3] | io | paused | - | - |", CliApp.Flatten((await app.RunAsync("schedule", "list")).Out), StringComparison.Ordinal);
        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "resume", "devices.poll")).ExitCode);
        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "pause", "code.tick")).ExitCode);

        var removeCode = await app.RunAsync("schedule", "remove", "code.tick");
        Assert.Equal(CeleriacExitCodes.UsageError, removeCode.ExitCode);
        Assert.Contains("defined in code", removeCode.Err, StringComparison.Ordinal);
        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "remove", "devices.poll")).ExitCode);
        Assert.Equal(CeleriacExitCodes.NotFound, (await app.RunAsync("schedule", "remove", "devices.poll")).ExitCode);
        Assert.Equal(CeleriacExitCodes.NotFound, (await app.RunAsync("schedule", "pause", "nope")).ExitCode);
        Assert.DoesNotContain("devices.poll", (await app.RunAsync("schedule", "list")).Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("schedule", "add", "s", "t")]
    [InlineData("schedule", "add", "s", "t", "--every", "1", "--cron", "* * * * *")]
    [InlineData("schedule", "add", "s", "t", "--every", "0")]
    [InlineData("schedule", "add", "s", "t", "--every", "1", "--tz", "Europe/Madrid")]
    [InlineData("schedule", "add", "s", "t", "--cron", "61 * * * *")]
    [InlineData("schedule", "add", "s", "t", "--cron", "* * * * *", "--tz", "Mars/Olympus")]
    [InlineData("schedule", "add", "s", "t", "--every", "1", "--args", "{bad")]
    [InlineData("schedule", "add", "bad name", "t", "--every", "1")]
    [InlineData("schedule", "add", "s", "t", "--every", "1", "--missed", "sometimes")]
    [InlineData("schedule", "frobnicate")]
    [InlineData("beat", "--bogus")]
    public async Task Bad_schedule_input_exits_2(params string[] args)
    {
        await using var app = new CliApp();
        var run = await app.RunAsync(args);
        Assert.True(run.ExitCode == CeleriacExitCodes.UsageError, run.ToString());
    }

    [Fact]
    public async Task Adding_a_name_that_exists_exits_2()
    {
        await using var app = new CliApp();
        Assert.Equal(CeleriacExitCodes.Success, (await app.RunAsync("schedule", "add", "s", "math.add", "--every", "60")).ExitCode);
        var again = await app.RunAsync("schedule", "add", "s", "math.add", "--every", "60");
        Assert.Equal(CeleriacExitCodes.UsageError, again.ExitCode);
        Assert.Contains("exists", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_shows_each_schedules_last_and_next_run()
    {
        await using var app = new CliApp(c => c.MapSchedule("hourly", "math.add", "0 * * * *", args: new[] { 1, 1 }));
        var inspect = CliApp.Flatten((await app.RunAsync("inspect")).Out);
        Assert.Contains("Schedules", inspect, StringComparison.Ordinal);
        var next = new DateTimeOffset(DateTime.UtcNow.Date.AddHours(DateTime.UtcNow.Hour + 1), TimeSpan.Zero);
        Assert.Contains($"| hourly | cron '0 * * * *' UTC | math.add | active (code) | - | {next:yyyy-MM-dd HH:mm:ss.fff}Z |", inspect, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Beat_refuses_to_run_when_disabled_for_the_app()
    {
        await using var app = new CliApp(c => c.ConfigureBeat(o => o.Enabled = false));
        var run = await app.RunAsync("beat");
        Assert.True(run.ExitCode == CeleriacExitCodes.ConfigurationError, run.ToString());
        Assert.Contains("Beat is disabled for this app", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Beat_fires_schedules_until_stopped_and_exits_0()
    {
        await using var app = new CliApp(c => c.MapSchedule("fast", "math.add", TimeSpan.FromMilliseconds(100), new[] { 1, 2 }));
        var (console, output) = CliApp.RecordingConsole();
        using var stop = new CancellationTokenSource();
        var run = app.Host.RunCeleriacAsync(["beat"], console, cancellationToken: stop.Token);
        await WaitAsync(async () => (await app.Transport.GetQueueStatsAsync()).Sum(q => q.Ready) >= 3);
        await stop.CancelAsync();
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(20)) == CeleriacExitCodes.Success, output.ToString());

        var list = CliApp.Flatten((await app.RunAsync("schedule", "list")).Out);
        Assert.Matches(@"\| fast \| every 100 ms \| math.add \| \[1,2\] \| \(task's\) \| active \(code\) \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d00Z PENDING \|", list);
    }

    [Fact]
    public async Task All_runs_the_scheduler_with_the_worker_and_web_runs_neither()
    {
        await using var app = new CliApp(c => c.MapSchedule("fast", "math.add", TimeSpan.FromMilliseconds(100), new[] { 1, 2 }));
        var (console, output) = CliApp.RecordingConsole();
        using var stop = new CancellationTokenSource();
        var run = app.Host.RunCeleriacAsync(["all"], console, cancellationToken: stop.Token);
        var results = (IResultStore)app.Host.Services.GetService(typeof(IResultStore))!;
        var store = (IScheduleStore)app.Host.Services.GetService(typeof(IScheduleStore))!;
        // A tick's task runs in the same process: its id is its idempotency key, beat:{schedule}:{tick}.
        await WaitAsync(async () => (await store.ListAsync()).SingleOrDefault()?.LastTick is { } tick
            && (await results.GetAsync($"beat:fast:{tick.ToUnixTimeMilliseconds()}"))?.State == TaskStates.Success);
        await stop.CancelAsync();
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(20)) == CeleriacExitCodes.Success, output.ToString());
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(10);
        }
    }
}
