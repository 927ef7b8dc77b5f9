using Celeriac.Transport;

namespace Celeriac.Hosting.Tests;

public sealed class InspectAndPurgeCommandTests
{
    [Fact]
    public async Task Inspect_shows_queue_depths_tasks_and_dead_letters()
    {
        await using var app = new CliApp();
        var failed = await app.Client.SendAsync("math.fail");
        await using (app.StartWorker())
        {
            var result = await failed.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(TaskStates.Failure, result?.State);
        }
        await app.Client.SendAsync("math.add", new[] { 1, 2 });
        await app.Client.SendAsync("math.add", new[] { 3, 4 });
        await app.Client.SendAsync("math.add", new[] { 5, 6 }, o => o.Countdown = TimeSpan.FromHours(1));

        var run = await app.RunAsync("inspect");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        var flat = CliApp.Flatten(run.Out);
        Assert.Contains("| default | 2 | 1 | 0 | 1 |", flat, StringComparison.Ordinal);
        Assert.Contains("| math.add |", flat, StringComparison.Ordinal);
        Assert.Contains("| math.fail |", flat, StringComparison.Ordinal);
        Assert.Contains($"| {failed.Id} | default | failed | InvalidOperationException: boom |", flat, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_with_no_dead_letters_option_leaves_them_out()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("inspect", "--dead-letters", "0");

        Assert.Equal(CeleriacExitCodes.Success, run.ExitCode);
        Assert.Contains("(no queues yet)", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("dead letters (up to", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_task_shows_state_and_result()
    {
        await using var app = new CliApp();
        var handle = await app.Client.SendAsync("math.add", new { a = 20, b = 22 });
        await using (app.StartWorker())
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(20)))?.State);

        var run = await app.RunAsync("inspect", "--task", handle.Id);

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        var flat = CliApp.Flatten(run.Out);
        Assert.Contains("| State | SUCCESS |", flat, StringComparison.Ordinal);
        Assert.Contains("| Result | 42 |", flat, StringComparison.Ordinal);
        Assert.Contains("| Task | math.add |", flat, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_task_with_an_unknown_id_exits_4()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("inspect", "--task", "no-such-task");

        Assert.Equal(CeleriacExitCodes.NotFound, run.ExitCode);
        Assert.Contains("No record of task no-such-task", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_with_yes_removes_waiting_messages_and_prints_the_count()
    {
        await using var app = new CliApp();
        for (var i = 0; i < 3; i++) await app.Client.SendAsync("math.add", new[] { i, i });
        await app.Client.SendAsync("math.add", new[] { 9, 9 }, o => o.Queue = "other");

        var run = await app.RunAsync("purge", "default", "--yes");

        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains("Purged 3 message(s) from queue 'default'.", run.Out, StringComparison.Ordinal);
        var stats = await app.Transport.GetQueueStatsAsync();
        Assert.DoesNotContain(stats, s => s.Queue == "default" && s.Ready + s.Delayed > 0);
        Assert.Equal(1, Assert.Single(stats, s => s.Queue == "other").Ready);
    }

    [Fact]
    public async Task Purge_without_a_queue_exits_2()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("purge");

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
    }

    [Fact]
    public async Task Revoke_deletes_a_waiting_task_and_reports_one_that_is_not_waiting()
    {
        await using var app = new CliApp();
        var handle = await app.Client.SendAsync("math.add", new[] { 1, 2 }, o => o.Countdown = TimeSpan.FromHours(1));

        var run = await app.RunAsync("revoke", handle.Id);
        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains($"Revoked {handle.Id}.", run.Out, StringComparison.Ordinal);
        Assert.Equal(TaskStates.Revoked, await handle.GetStateAsync());

        var again = await app.RunAsync("revoke", handle.Id);
        Assert.Equal(CeleriacExitCodes.NotFound, again.ExitCode);
        Assert.Contains("is not waiting in a queue", again.Err, StringComparison.Ordinal);
    }
}
