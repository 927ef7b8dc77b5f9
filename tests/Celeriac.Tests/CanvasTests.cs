using Celeriac.Transport;

namespace Celeriac.Tests;

public sealed class CanvasTests
{
    [Fact]
    public async Task Chain_passes_each_result_to_the_next_step()
    {
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("add", (int a, int b) => a + b);
            c.MapTask("mul", (int a, int b) => a * b);
        }).Start();
        var handle = await h.Client.ChainAsync([new TaskSignature("add", new[] { 2, 3 }), new TaskSignature("mul", new[] { 10 }), new TaskSignature("add", new[] { 1 })]);
        Assert.Equal(51, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_failing_step_fails_the_rest_of_the_chain()
    {
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("ok", () => 1);
            c.MapTask("boom", (int x) => { throw new InvalidOperationException("boom"); });
        }).Start();
        var steps = new[] { new TaskSignature("ok"), new TaskSignature("boom"), new TaskSignature("ok") };
        var handle = await h.Client.ChainAsync(steps);
        var last = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, last!.State);
        Assert.Equal("ChainAborted", last.Error!.Type);
        Assert.Equal(TaskStates.Failure, (await h.Results.GetAsync(steps[1].Id))!.State);
        Assert.Equal(TaskStates.Success, (await h.Results.GetAsync(steps[0].Id))!.State);
    }

    [Fact]
    public async Task Group_runs_members_in_parallel_and_returns_results_in_order()
    {
        var running = 0;
        var peak = 0;
        var gate = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("sq", async (int n, TaskContext ctx) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            if (now == 4) gate.TrySetResult();
            await gate.Task;
            Interlocked.Decrement(ref running);
            Assert.NotNull(ctx.GroupId);
            return n * n;
        }), worker: o => o.Concurrency = 4).Start();
        var group = await h.Client.GroupAsync([.. Enumerable.Range(1, 4).Select(i => new TaskSignature("sq", new[] { i }))]);
        Assert.Equal(new int[] { 1, 4, 9, 16 }, await group.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(4, peak);
    }

    [Fact]
    public async Task Group_result_raises_when_a_member_failed()
    {
        await using var h = new WorkerHarness(c => c.MapTask("maybe", (int n) => n == 2 ? throw new ArgumentException("two") : n)).Start();
        var group = await h.Client.GroupAsync([.. Enumerable.Range(1, 3).Select(i => new TaskSignature("maybe", new[] { i }))]);
        var e = await Assert.ThrowsAsync<TaskFailedException>(() => group.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(group.Members[1].Id, e.TaskId);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
