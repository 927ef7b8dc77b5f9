using Celeriac.Transport;

namespace Celeriac.Hosting.Tests;

public sealed class CallCommandTests
{
    [Fact]
    public async Task Call_with_wait_prints_the_result_and_exits_0()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var (code, output) = await app.RunAsync("call", "math.add", "--args", "[2, 3]", "--wait", "--timeout", "20");

            Assert.True(code == CeleriacExitCodes.Success, output);
            var lines = Lines(output);
            Assert.True(Guid.TryParse(lines[0], out _), $"first line should be the task id: {output}");
            Assert.Equal("5", lines[^1]);
        }
    }

    [Fact]
    public async Task Call_with_kwargs_binds_by_name()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var (code, output) = await app.RunAsync("call", "math.add", "--kwargs", "{\"a\": 2, \"b\": 40}", "--wait", "--timeout", "20");

            Assert.True(code == CeleriacExitCodes.Success, output);
            Assert.Equal("42", Lines(output)[^1]);
        }
    }

    [Fact]
    public async Task Call_without_wait_prints_the_id_of_a_queued_task()
    {
        await using var app = new CliApp();

        var (code, output) = await app.RunAsync("call", "math.add", "--args", "[1, 2]", "--queue", "slow", "--priority", "3", "--countdown", "60");

        Assert.Equal(CeleriacExitCodes.Success, code);
        var id = Lines(output)[0];
        Assert.True(Guid.TryParse(id, out _), output);
        var slow = Assert.Single(await app.Transport.GetQueueStatsAsync(), s => s.Queue == "slow");
        Assert.Equal(1, slow.Delayed);
    }

    [Theory]
    [InlineData("--args", "[2,", "--args is not valid JSON")]
    [InlineData("--args", "{\"a\": 1}", "--args takes a JSON array")]
    [InlineData("--kwargs", "not json", "--kwargs is not valid JSON")]
    [InlineData("--kwargs", "[1]", "--kwargs takes a JSON object")]
    public async Task Call_with_bad_json_exits_2_with_a_clear_message(string option, string value, string message)
    {
        await using var app = new CliApp();

        var (code, output) = await app.RunAsync("call", "math.add", option, value);

        Assert.Equal(CeleriacExitCodes.UsageError, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.Empty(await app.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task Call_with_wait_of_a_failing_task_exits_1_with_the_error()
    {
        await using var app = new CliApp();
        await using (app.StartWorker())
        {
            var (code, output) = await app.RunAsync("call", "math.fail", "--wait", "--timeout", "20");

            Assert.True(code == CeleriacExitCodes.TaskFailed, output);
            Assert.Contains("FAILURE", output, StringComparison.Ordinal);
            Assert.Contains("InvalidOperationException: boom", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Call_with_wait_and_no_worker_times_out_with_exit_3()
    {
        await using var app = new CliApp();

        var (code, output) = await app.RunAsync("call", "math.add", "--args", "[1, 2]", "--wait", "--timeout", "1");

        Assert.Equal(CeleriacExitCodes.TimedOut, code);
        Assert.Contains("Timed out after 1 s", output, StringComparison.Ordinal);
        Assert.Contains(TaskStates.Pending, output, StringComparison.Ordinal);
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

        var (code, output) = await app.RunAsync(args);

        Assert.Equal(CeleriacExitCodes.UsageError, code);
        Assert.Contains("--help", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_of_an_unregistered_task_warns_and_sends()
    {
        await using var app = new CliApp();

        var (code, output) = await app.RunAsync("call", "nope.missing");

        Assert.Equal(CeleriacExitCodes.Success, code);
        Assert.Contains("no task named 'nope.missing' is registered", output, StringComparison.Ordinal);
    }

    internal static string[] Lines(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
