using System.Text.Json;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Tests;

public sealed class TaskBindingTests
{
    private sealed class Greeter
    {
        public string Greet(string name) => $"hello {name}";
    }

    private static async Task<TaskResult> RunAsync(Delegate handler, object? args)
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", handler), s => s.AddSingleton<Greeter>()).Start();
        var handle = await h.Client.SendAsync("t", args);
        return (await handle.WaitAsync(TimeSpan.FromSeconds(10)))!;
    }

    [Fact]
    public async Task Binds_keyword_arguments_by_name_ignoring_case_and_underscores()
    {
        var r = await RunAsync((int deviceId, string label) => $"{label}:{deviceId}", JsonDocument.Parse("""{"device_id": 7, "Label": "x"}""").RootElement);
        Assert.Equal(TaskStates.Success, r.State);
        Assert.Equal("\"x:7\"", r.Result);
    }

    [Fact]
    public async Task Binds_positional_arguments_in_order()
    {
        var r = await RunAsync((int a, int b) => a - b, new object[] { 10, 3 });
        Assert.Equal("7", r.Result);
    }

    [Fact]
    public async Task Binds_services_context_token_and_defaults()
    {
        var r = await RunAsync(async (string name, Greeter greeter, TaskContext ctx, CancellationToken ct, int times = 2) =>
        {
            await Task.Yield();
            Assert.False(ct.IsCancellationRequested);
            return $"{greeter.Greet(name)} x{times} ({ctx.Name}, retries {ctx.Retries}, root {ctx.RootId == ctx.Id})";
        }, new { name = "ada" });
        Assert.Equal(TaskStates.Success, r.State);
        Assert.Equal("\"hello ada x2 (t, retries 0, root True)\"", r.Result);
    }

    [Fact]
    public async Task Binds_complex_objects_from_json()
    {
        var r = await RunAsync((Point p) => p.X + p.Y, new { p = new { x = 2, y = 5 } });
        Assert.Equal("7", r.Result);
    }

    public sealed record Point(int X, int Y);

    [Fact]
    public async Task Missing_argument_fails_with_a_message_naming_the_parameter()
    {
        var r = await RunAsync((int feedId) => feedId, new { });
        Assert.Equal(TaskStates.Failure, r.State);
        Assert.Equal(nameof(TaskBindingException), r.Error!.Type);
        Assert.Contains("'feedId'", r.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Argument_of_the_wrong_type_fails_naming_parameter_and_value()
    {
        var r = await RunAsync((int feedId) => feedId, new { feedId = "abc" });
        Assert.Equal(TaskStates.Failure, r.State);
        Assert.Contains("'feedId' expects Int32 but got \"abc\"", r.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Null_for_a_value_type_is_refused()
    {
        var r = await RunAsync((int feedId) => feedId, JsonDocument.Parse("""{"feedId": null}""").RootElement);
        Assert.Equal(TaskStates.Failure, r.State);
        Assert.Contains("'feedId'", r.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_keyword_and_extra_positional_arguments_are_refused()
    {
        var unknown = await RunAsync((int a) => a, new { a = 1, b = 2 });
        Assert.Contains("unknown keyword argument(s): 'b'", unknown.Error!.Message, StringComparison.Ordinal);
        var extra = await RunAsync((int a) => a, new object[] { 1, 2 });
        Assert.Contains("takes 1 positional argument(s) but 2 were given", extra.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Binding_failures_are_not_retried_and_are_dead_lettered()
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", (int a) => a).Retry(on: [typeof(Exception)], maxRetries: 5)).Start();
        var handle = await h.Client.SendAsync("t", new { a = "nope" });
        var r = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, r!.State);
        Assert.Equal(0, r.Retries);
        var dead = Assert.Single(await h.DeadLettersAsync(1));
        Assert.Equal("bad-arguments", dead.Info.Reason);
    }

    [Fact]
    public async Task Void_and_task_returning_delegates_succeed_with_no_value()
    {
        var r = await RunAsync(async () => await Task.Yield(), null);
        Assert.Equal(TaskStates.Success, r.State);
        Assert.Null(r.Result);
        var v = await RunAsync(ValueTask<int> () => ValueTask.FromResult(5), null);
        Assert.Equal("5", v.Result);
    }

    [Fact]
    public async Task A_scalar_argument_is_one_positional_argument()
    {
        var r = await RunAsync((string s) => s.ToUpperInvariant(), "abc");
        Assert.Equal("\"ABC\"", r.Result);
    }
}
