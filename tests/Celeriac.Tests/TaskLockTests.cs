using System.Collections.Concurrent;
using Celeriac.Transport;

namespace Celeriac.Tests;

public sealed class TaskLockTests
{
    [Fact]
    public void Lock_templates_must_name_task_arguments()
    {
        var registry = new TaskRegistry();
        var builder = new TaskBuilder(registry.Add("t", (int deviceId) => deviceId));
        var e = Assert.Throws<ArgumentException>(() => builder.Lock("device:{device}"));
        Assert.Contains("'{device}', which is not an argument", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => builder.Lock("device:{deviceId"));
        builder.Lock("device:{deviceId}");
        Assert.Equal("lock:device:7", builder.Definition.Lock!.KeyFor([7]));
    }

    [Fact]
    public async Task Runs_with_the_same_key_never_overlap_and_other_keys_run_in_parallel()
    {
        var running = new ConcurrentDictionary<int, int>();
        var overlaps = 0;
        var parallelKeys = 0;
        await using var h = new WorkerHarness(c => c.MapTask("device.switch", async (int deviceId, int n) =>
        {
            if (running.AddOrUpdate(deviceId, 1, (_, v) => v + 1) > 1) Interlocked.Increment(ref overlaps);
            var busyKeys = running.Count(kv => kv.Value > 0);
            if (busyKeys > 1) Interlocked.Exchange(ref parallelKeys, Math.Max(parallelKeys, busyKeys));
            await Task.Delay(2);
            running.AddOrUpdate(deviceId, 0, (_, v) => v - 1);
            return n;
        }).Lock("device:{deviceId}", retryAfter: TimeSpan.FromMilliseconds(1)), worker: o => { o.Concurrency = 8; o.Prefetch = 8; }).Start();

        var handles = new List<TaskHandle>();
        for (var i = 0; i < 40; i++) handles.Add(await h.Client.SendAsync("device.switch", new { deviceId = i % 3, n = i }));
        // A busy lock puts the message back with a short delay: move the fake clock on until all ran.
        await Eventually.TrueAsync(() =>
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(2));
            return handles.All(x => h.Results.GetAsync(x.Id).AsTask().Result?.State == TaskStates.Success);
        }, TimeSpan.FromSeconds(30));
        Assert.Equal(0, overlaps);
        Assert.True(parallelKeys > 1, "different keys should run side by side");
        foreach (var x in handles) Assert.Equal(0, (await h.Results.GetAsync(x.Id))!.Retries);
    }

    [Fact]
    public async Task Different_tasks_with_the_same_key_template_exclude_each_other()
    {
        var running = new ConcurrentDictionary<int, int>();
        var overlaps = 0;
        async Task<int> Body(int deviceId, int n)
        {
            if (running.AddOrUpdate(deviceId, 1, (_, v) => v + 1) > 1) Interlocked.Increment(ref overlaps);
            await Task.Delay(2);
            running.AddOrUpdate(deviceId, 0, (_, v) => v - 1);
            return n;
        }
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("device.poll", Body).Lock("device:{deviceId}", retryAfter: TimeSpan.FromMilliseconds(1));
            c.MapTask("device.switch", Body).Lock("device:{deviceId}", retryAfter: TimeSpan.FromMilliseconds(1));
        }, worker: o => { o.Concurrency = 8; o.Prefetch = 8; }).Start();

        var handles = new List<TaskHandle>();
        for (var i = 0; i < 40; i++) handles.Add(await h.Client.SendAsync(i % 2 == 0 ? "device.poll" : "device.switch", new { deviceId = i % 2, n = i }));
        await Eventually.TrueAsync(() =>
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(2));
            return handles.All(x => h.Results.GetAsync(x.Id).AsTask().Result?.State == TaskStates.Success);
        }, TimeSpan.FromSeconds(30));
        Assert.Equal(0, overlaps);
    }

    [Fact]
    public async Task A_run_whose_key_is_held_waits_without_using_a_retry()
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", (int k) => k).Lock("k:{k}", retryAfter: TimeSpan.FromSeconds(10)));
        var locks = (ILockProvider)h.Provider.GetService(typeof(ILockProvider))!;
        var token = await locks.TryAcquireAsync("lock:k:1", TimeSpan.FromMinutes(5));
        Assert.NotNull(token);
        var handle = await h.Client.SendAsync("t", new { k = 1 });
        h.Start();
        await Eventually.TrueAsync(() => h.Transport.GetQueueStatsAsync().AsTask().Result.Single().Delayed == 1);
        Assert.Equal(TaskStates.Pending, await handle.GetStateAsync());
        Assert.True(await locks.ReleaseAsync("lock:k:1", token!));
        await h.AdvanceAsync(TimeSpan.FromSeconds(15), h.WaitForStateAsync(handle.Id, TaskStates.Success));
        Assert.Equal(1, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, (await handle.GetResultAsync())!.Retries);
    }

    [Fact]
    public async Task A_dead_holders_lock_frees_itself_when_its_lease_runs_out()
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", (int k) => k).Lock("k:{k}"), worker: o => o.LeaseDuration = TimeSpan.FromSeconds(30));
        var locks = (ILockProvider)h.Provider.GetService(typeof(ILockProvider))!;
        Assert.NotNull(await locks.TryAcquireAsync("lock:k:1", TimeSpan.FromSeconds(30)));   // a holder that dies
        var handle = await h.Client.SendAsync("t", new { k = 1 });
        h.Start();
        await Eventually.TrueAsync(() => h.Transport.GetQueueStatsAsync().AsTask().Result.Single().Delayed == 1);
        await Eventually.TrueAsync(() =>
        {
            h.Time.Advance(TimeSpan.FromSeconds(1));
            return h.Results.GetAsync(handle.Id).AsTask().Result?.State == TaskStates.Success;
        }, TimeSpan.FromSeconds(30));
        Assert.True(h.Time.GetUtcNow() - new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero) >= TimeSpan.FromSeconds(29));
    }
}
