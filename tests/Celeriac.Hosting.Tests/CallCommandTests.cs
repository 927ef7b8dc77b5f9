using Celeriac.Transport;

namespace Celeriac.Hosting.Tests;

public sealed class CallCommandTests
{
    [Fact]
    public async Task Call_with_wait_prints_the_id_then_the_result_on_stdout_and_exits_0()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var run = await app.RunAsync("call", "math.add", "--args", "[2, 3]", "--wait", "--timeout", "20");

            Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
            Assert.Equal(2, run.OutLines.Length);
            Assert.True(Guid.TryParse(run.OutLines[0], out _), run.ToString());
            Assert.Equal("5", run.OutLines[1]);
        }
    }

    [Fact]
    public async Task Call_with_kwargs_binds_by_name()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var run = await app.RunAsync("call", "math.add", "--kwargs", "{\"a\": 2, \"b\": 40}", "--wait", "--timeout", "20");

            Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
            Assert.Equal("42", run.OutLines[^1]);
        }
    }

    [Fact]
    public async Task Call_with_args_and_kwargs_sends_both()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var run = await app.RunAsync("call", "math.add", "--args", "[1]", "--kwargs", "{\"b\": 10}", "--wait", "--timeout", "20");

            Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
            Assert.Equal("11", run.OutLines[^1]);
        }
    }

    [Fact]
    public async Task Call_without_wait_prints_only_the_id_of_the_queued_task()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("call", "math.add", "--args", "[1, 2]", "--queue", "slow", "--priority", "3", "--countdown", "60");

        Assert.Equal(CeleriacExitCodes.Success, run.ExitCode);
        var id = Assert.Single(run.OutLines);
        Assert.True(Guid.TryParse(id, out _), run.ToString());
        var slow = Assert.Single(await app.Transport.GetQueueStatsAsync(), s => s.Queue == "slow");
        Assert.Equal(1, slow.Delayed);
    }

    [Theory]
    [InlineData("--args", "[2,", "--args is not valid JSON")]
    [InlineData("--args", "{\"a\": 1}", "--args takes a JSON array")]
    [InlineData("--kwargs", "not json", "--kwargs is not valid JSON")]
    [InlineData("--kwargs", "[1]", "--kwargs takes a JSON object")]
    public async Task Call_with_bad_json_exits_2_with_a_clear_message_and_sends_nothing(string option, string value, string message)
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("call", "math.add", option, value);

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains(message, run.Err, StringComparison.Ordinal);
        Assert.Empty(run.Out);
        Assert.Empty(await app.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task Call_with_wait_of_a_failing_task_exits_1_with_the_error()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var run = await app.RunAsync("call", "math.fail", "--wait", "--timeout", "20");

            Assert.True(run.ExitCode == CeleriacExitCodes.TaskFailed, run.ToString());
            Assert.Contains("ended in FAILURE: InvalidOperationException: boom", run.Err, StringComparison.Ordinal);
            Assert.Single(run.OutLines);
        }
    }

    [Fact]
    public async Task Call_with_wait_and_no_worker_times_out_with_exit_3()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("call", "math.add", "--args", "[1, 2]", "--wait", "--timeout", "1");

        Assert.Equal(CeleriacExitCodes.TimedOut, run.ExitCode);
        Assert.Contains("Timed out after 1 s", run.Err, StringComparison.Ordinal);
        Assert.Contains(TaskStates.Pending, run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_with_wait_is_interrupted_by_cancellation_with_exit_130()
    {
        await using var app = new CliApp();
        var (console, writer) = CliApp.RecordingConsole();
        using var stop = new CancellationTokenSource();

        var run = app.Host.RunCeleriacAsync(["call", "math.add", "--args", "[1, 2]", "--wait"], console, cancellationToken: stop.Token);
        await WaitUntilAsync(async () => (await app.Transport.GetQueueStatsAsync()).Any(q => q.Ready == 1));
        await stop.CancelAsync();

        Assert.Equal(CeleriacExitCodes.Interrupted, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("Interrupted", writer.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("call", "math.add", "--bogus")]
    [InlineData("call")]
    [InlineData("call", "math.add", "--timeout", "0")]
    [InlineData("call", "math.add", "--priority", "high")]
    [InlineData("call", "math.add", "--timeout", "soon")]
    [InlineData("call", "math.add", "--countdown", "-1")]
    [InlineData("call", "math.add", "--countdown", "NaN")]
    public async Task Call_usage_errors_exit_2(params string[] args)
    {
        await using var app = new CliApp();

        var run = await app.RunAsync(args);

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains("--help", run.Err, StringComparison.Ordinal);
        Assert.Empty(await app.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task Call_of_an_unregistered_task_warns_and_sends()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("call", "nope.missing");

        Assert.Equal(CeleriacExitCodes.Success, run.ExitCode);
        Assert.Contains("no task named 'nope.missing' is registered", run.Err, StringComparison.Ordinal);
        Assert.Single(run.OutLines);
    }

    [Fact]
    public async Task Call_of_a_message_over_the_size_limit_exits_2()
    {
        await using var app = new CliApp(c => c.Configure(o => o.MaxMessageBytes = 512));

        var run = await app.RunAsync("call", "math.add", "--args", $"[\"{new string('x', 1000)}\", 1]");

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains("over the limit", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_warn_that_the_in_memory_transport_is_not_shared()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("inspect");

        Assert.Contains("in-memory transport", run.Err, StringComparison.Ordinal);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!await condition()) await Task.Delay(20, timeout.Token);
    }
}
