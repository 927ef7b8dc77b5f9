namespace Celeriac.Hosting.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void Worker_and_beat_ignore_configuration_settings_and_keep_their_own_options()
    {
        Assert.Equal(["worker", "-c", "4", "--bogus"], Celeriac.Hosting.CommandLine.CeleriacCommandLine.WithoutSettings(
            ["worker", "--Vendor:BaseUrl=http://127.0.0.1:5081", "-c", "4", "--Energy:DataDirectory", "/tmp/x", "Celeriac:Worker:Prefetch=2", "--urls", "http://127.0.0.1:0", "--bogus"]));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_lists_the_commands_and_exits_0(string option)
    {
        await using var app = new CliApp();

        var run = await app.RunAsync(option);

        Assert.Equal(CeleriacExitCodes.Success, run.ExitCode);
        foreach (var command in new[] { "all", "web", "worker", "call", "inspect", "purge", "send", "listen" })
            Assert.Contains(command, run.All, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("all", "Run the host")]
    [InlineData("web", "without the worker")]
    [InlineData("worker", "--concurrency")]
    [InlineData("call", "--countdown")]
    [InlineData("inspect", "--dead-letters")]
    [InlineData("purge", "--yes")]
    [InlineData("send", "--json")]
    [InlineData("listen", "--durable")]
    public async Task Every_command_has_help(string command, string expected)
    {
        await using var app = new CliApp();

        var run = await app.RunAsync(command, "--help");

        Assert.Equal(CeleriacExitCodes.Success, run.ExitCode);
        Assert.Contains(expected, run.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_command_exits_2_instead_of_starting_the_app()
    {
        await using var app = new CliApp();

        var run = await app.RunAsync("wrker");

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains("'wrker'", run.All, StringComparison.Ordinal);
        Assert.Contains("--help", run.All, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("worker", "-c", "0")]
    [InlineData("worker", "--prefetch", "-1")]
    [InlineData("worker", "--bogus")]
    [InlineData("worker", "-c", "x")]
    [InlineData("worker", "--bogus", "-c", "x")]
    [InlineData("worker", "-q", ",")]
    [InlineData("inspect", "--dead-letters", "many")]
    [InlineData("inspect", "--environment", "Test")]
    [InlineData("inspect", "--dead-letters", "-3")]
    public async Task Bad_options_exit_2(params string[] args)
    {
        await using var app = new CliApp();

        var run = await app.RunAsync(args);

        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
    }

    [Fact]
    public async Task Worker_applies_its_options_and_runs_tasks_from_the_named_queues()
    {
        await using var app = new CliApp();
        var other = await app.Client.SendAsync("math.add", new[] { 1, 1 }, o => o.Queue = "io");
        await using (app.StartWorker("-q", "default,io", "--prefetch", "0"))
            Assert.Equal(Transport.TaskStates.Success, (await other.WaitAsync(TimeSpan.FromSeconds(20)))?.State);
    }

    [Fact]
    public async Task Without_a_transport_commands_exit_5()
    {
        await using var app = new CliApp(withTransport: false);

        var run = await app.RunAsync("inspect");

        Assert.Equal(CeleriacExitCodes.ConfigurationError, run.ExitCode);
        Assert.Contains("Configuration error", run.All, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("web", "--environment", "Test", "Some:Key=1")]
    [InlineData("--environment", "Test", "web")]
    public async Task Web_runs_the_host_without_the_worker_until_stopped(params string[] args)
    {
        await using var app = new CliApp();
        var handle = await app.Client.SendAsync("math.add", new[] { 1, 1 });
        var (console, _) = CliApp.RecordingConsole();
        using var stop = new CancellationTokenSource();

        var run = app.Host.RunCeleriacAsync(args, console, cancellationToken: stop.Token);
        var lifetime = (Microsoft.Extensions.Hosting.IHostApplicationLifetime)app.Host.Services.GetService(typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime))!;
        var started = new TaskCompletionSource();
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Null(await handle.WaitAsync(TimeSpan.FromMilliseconds(500)));
        await stop.CancelAsync();

        Assert.Equal(CeleriacExitCodes.Success, await run.WaitAsync(TimeSpan.FromSeconds(20)));
    }
}
