using System.Text.Json;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Hosting.Tests;

/// <summary><c>workers</c> and <c>inspect workers …</c> against a worker command running in the same app (in memory).</summary>
public sealed class WorkersCommandTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static async Task<JsonElement> OnlyProcessAsync(CliApp app, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            var run = await app.RunAsync("workers", "--json");
            Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
            using var document = JsonDocument.Parse(run.Out);
            if (document.RootElement.GetArrayLength() == 1 && until(document.RootElement[0])) return document.RootElement[0].Clone();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No such process in: {run.Out}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Workers_json_lists_the_running_worker_and_the_table_shows_it()
    {
        await using var app = new CliApp();
        var empty = await app.RunAsync("workers", "--json");
        Assert.Equal(CeleriacExitCodes.Success, empty.ExitCode);
        Assert.Equal("[]", empty.Out.Trim());

        await using (app.StartWorker("-q", "default,io"))
        {
            var p = await OnlyProcessAsync(app, p => p.GetProperty("roles").EnumerateArray().Any(r => r.GetString() == "worker"));
            Assert.Equal(Environment.ProcessId, p.GetProperty("pid").GetInt32());
            Assert.Equal(Environment.MachineName, p.GetProperty("host").GetString());
            Assert.Equal(2, p.GetProperty("concurrency").GetInt32());
            Assert.Equal(["default", "io"], p.GetProperty("queues").EnumerateArray().Select(q => q.GetString()));
            Assert.Equal("running", p.GetProperty("status").GetString());
            Assert.Equal(0, p.GetProperty("inFlight").GetArrayLength());

            var table = await app.RunAsync("workers");
            Assert.True(table.ExitCode == CeleriacExitCodes.Success, table.ToString());
            var flat = CliApp.Flatten(table.Out);
            Assert.Contains($"| {p.GetProperty("id").GetString()} | {Environment.MachineName} | {Environment.ProcessId} | worker | default,io | 2 | 0 | 0 | 0 | 0 |", flat, StringComparison.Ordinal);
        }
        // The worker said goodbye when it stopped.
        var after = await app.RunAsync("workers", "--json");
        Assert.Equal("[]", after.Out.Trim());
    }

    [Fact]
    public async Task Inspect_workers_ping_and_concurrency_are_answered_and_unknown_ids_exit_4()
    {
        await using var app = new CliApp();
        var nobody = await app.RunAsync("inspect", "workers", "ping", "--timeout", "300ms");
        Assert.True(nobody.ExitCode == CeleriacExitCodes.NotFound, nobody.ToString());
        Assert.Contains("No process answered", nobody.Err, StringComparison.Ordinal);

        await using var worker = app.StartWorker();
        var id = (await OnlyProcessAsync(app, p => p.GetProperty("concurrency").GetInt32() == 2)).GetProperty("id").GetString()!;

        var ping = await app.RunAsync("inspect", "workers", "ping");
        Assert.True(ping.ExitCode == CeleriacExitCodes.Success, ping.ToString());
        Assert.Contains($"| {id} | pong", CliApp.Flatten(ping.Out), StringComparison.Ordinal);
        var one = await app.RunAsync("inspect", "workers", "ping", "--id", id);
        Assert.True(one.ExitCode == CeleriacExitCodes.Success, one.ToString());

        var change = await app.RunAsync("inspect", "workers", "concurrency", id, "5");
        Assert.True(change.ExitCode == CeleriacExitCodes.Success, change.ToString());
        Assert.Contains("concurrency 2 -> 5", change.Out, StringComparison.Ordinal);
        await OnlyProcessAsync(app, p => p.GetProperty("concurrency").GetInt32() == 5);

        Assert.Equal(CeleriacExitCodes.NotFound, (await app.RunAsync("inspect", "workers", "ping", "--id", "elsewhere:1:abc", "--timeout", "300ms")).ExitCode);
        var stop = await app.RunAsync("inspect", "workers", "stop", "elsewhere:1:abc", "--timeout", "300ms");
        Assert.Equal(CeleriacExitCodes.NotFound, stop.ExitCode);
        Assert.Contains("did not answer", stop.Err, StringComparison.Ordinal);
        Assert.Equal(CeleriacExitCodes.NotFound, (await app.RunAsync("inspect", "workers", "concurrency", "elsewhere:1:abc", "3", "--timeout", "300ms")).ExitCode);
        Assert.Equal(CeleriacExitCodes.UsageError, (await app.RunAsync("inspect", "workers", "concurrency", id, "0")).ExitCode);
        Assert.Equal(CeleriacExitCodes.UsageError, (await app.RunAsync("inspect", "workers", "ping", "--timeout", "soon")).ExitCode);
        Assert.Equal(CeleriacExitCodes.NotFound, (await app.RunAsync("inspect", "workers", "revoke", "no-such-task", "--timeout", "300ms")).ExitCode);
    }

    [Fact]
    public async Task Inspect_workers_stop_ends_the_worker_command_gracefully()
    {
        await using var app = new CliApp();
        var worker = app.StartWorker();
        var id = (await OnlyProcessAsync(app, _ => true)).GetProperty("id").GetString()!;

        var stop = await app.RunAsync("inspect", "workers", "stop", id);
        Assert.True(stop.ExitCode == CeleriacExitCodes.Success, stop.ToString());
        Assert.Contains("stopping", stop.Out, StringComparison.Ordinal);
        Assert.Equal(CeleriacExitCodes.Success, await worker.Completion.WaitAsync(Bound));
        var after = await app.RunAsync("workers", "--json");
        Assert.Equal("[]", after.Out.Trim());
        await worker.DisposeAsync();
    }

    [Fact]
    public async Task Revoke_cancels_a_running_task_which_ends_revoked()
    {
        await using var app = new CliApp();
        var started = new TaskCompletionSource();
        app.Host.MapTask("slow.forever", async (CancellationToken ct) => { started.TrySetResult(); await Task.Delay(Timeout.Infinite, ct); });
        await using var worker = app.StartWorker();
        var handle = await app.Client.SendAsync("slow.forever");
        await started.Task.WaitAsync(Bound);

        var run = await app.RunAsync("revoke", handle.Id);
        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        Assert.Contains($"Revoked {handle.Id}", run.Out, StringComparison.Ordinal);
        var result = await handle.WaitAsync(Bound);
        Assert.Equal(TaskStates.Revoked, result?.State);

        // The same through inspect workers revoke.
        started = new TaskCompletionSource();
        var second = await app.Client.SendAsync("slow.forever");
        await started.Task.WaitAsync(Bound);
        var inspect = await app.RunAsync("inspect", "workers", "revoke", second.Id);
        Assert.True(inspect.ExitCode == CeleriacExitCodes.Success, inspect.ToString());
        Assert.Equal(TaskStates.Revoked, (await second.WaitAsync(Bound))?.State);
    }

    [Fact]
    public async Task Call_records_the_send_in_the_task_journal()
    {
        await using var app = new CliApp();
        var run = await app.RunAsync("call", "math.add", "--args", "[1, 2]");
        Assert.True(run.ExitCode == CeleriacExitCodes.Success, run.ToString());
        var id = Assert.Single(run.OutLines);
        var story = await app.Host.Services.GetRequiredService<Celeriac.Operations.ITaskHistory>().GetStoryAsync(id);
        var sent = Assert.Single(story);
        Assert.Equal(Celeriac.Operations.TaskEventKinds.Sent, sent.Kind);
        Assert.Equal("math.add", sent.Task);
        Assert.Equal("default", sent.Queue);
    }
}
