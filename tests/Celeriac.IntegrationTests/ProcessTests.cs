using System.Globalization;
using Celeriac.Transport;
using Celeriac.Transport.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>
/// Delivery promises proved with real worker processes (Celeriac.TestWorker) on a shared store. Each store's class is
/// a one-line subclass; a test added here runs for every store.
/// </summary>
public abstract class ProcessTests(ITestOutputHelper output) : IDisposable
{
    protected string Dir { get; } = Directory.CreateTempSubdirectory("celeriac-proc-").FullName;

    internal abstract Store CreateStore();

    /// <summary>Tasks sent in the SIGKILL test.</summary>
    protected abstract int KillTestTasks { get; }

    protected ITestOutputHelper Output => output;

    internal ServiceProvider Producer(Store store) =>
        new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider();

    [Fact]
    public async Task Every_task_completes_when_a_worker_is_killed_and_only_its_in_flight_tasks_run_twice()
    {
        const int Concurrency = 8;
        const int Prefetch = 8;
        var store = CreateStore();
        await using var producer = Producer(store);
        var client = producer.GetRequiredService<ITaskClient>();
        var handles = new List<TaskHandle>(KillTestTasks);
        for (var i = 0; i < KillTestTasks; i++)
            handles.Add(await client.SendAsync("proc.record", new { n = i, delayMs = 2 }));

        using var victim = new WorkerProcess(store, Path.Combine(Dir, "victim.log"), Concurrency, Prefetch);
        using var survivor = new WorkerProcess(store, Path.Combine(Dir, "survivor.log"), Concurrency, Prefetch);

        // Kill the victim once both are busy and well before the queue is drained.
        await WaitUntilAsync(() => victim.Runs().Count >= KillTestTasks / 8 && survivor.Runs().Count >= 50, TimeSpan.FromSeconds(60), "both workers to run tasks");
        victim.Kill();
        output.WriteLine($"killed worker {victim.Id} after {victim.Runs().Count} runs");

        // Every task reaches SUCCESS: the survivor takes the victim's leased messages when their leases run out.
        foreach (var handle in handles)
        {
            var result = await handle.WaitAsync(TimeSpan.FromSeconds(120));
            if (result?.State != TaskStates.Success) output.WriteLine(victim.Describe("victim", handle.Id) + survivor.Describe("survivor", handle.Id));
            Assert.True(result?.State == TaskStates.Success, $"task {handle.Id} ended in {result?.State ?? "PENDING"}: {result?.Error?.Message}");
        }

        var victimRuns = victim.Runs();
        var runs = victimRuns.Concat(survivor.Runs()).GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var duplicates = runs.Where(r => r.Value > 1).Select(r => r.Key).ToList();
        output.WriteLine($"runs: victim {victimRuns.Count}, survivor {survivor.Runs().Count}, distinct {runs.Count}, run twice {duplicates.Count}");
        Assert.Equal(KillTestTasks, runs.Count);
        Assert.All(handles, h => Assert.True(runs.ContainsKey(h.Id)));
        // Only messages the victim held when it died can run twice: at most its running plus prefetched ones.
        Assert.InRange(duplicates.Count, 0, Concurrency + Prefetch);
        Assert.All(duplicates, id => Assert.Contains(id, victimRuns));
        Assert.All(runs.Values, count => Assert.InRange(count, 1, 2));
        await survivor.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.True(survivor.HasExited);
    }

    [Fact]
    public async Task Tasks_on_the_same_key_never_overlap_across_processes()
    {
        var store = CreateStore();
        await using var producer = Producer(store);
        var client = producer.GetRequiredService<ITaskClient>();
        using var a = new WorkerProcess(store, Path.Combine(Dir, "a.log"), concurrency: 8, prefetch: 4);
        using var b = new WorkerProcess(store, Path.Combine(Dir, "b.log"), concurrency: 8, prefetch: 4);
        await a.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await b.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var handles = new List<TaskHandle>();
        for (var i = 0; i < 200; i++) handles.Add(await client.SendAsync("proc.locked", new { key = i % 10, delayMs = 10 }));
        foreach (var handle in handles)
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(120)))?.State);

        var runs = a.Runs().Select(l => (Line: l, Worker: "a")).Concat(b.Runs().Select(l => (Line: l, Worker: "b")))
            .Select(r => r.Line.Split(' ') is var p
                ? (Key: int.Parse(p[1], CultureInfo.InvariantCulture), Start: long.Parse(p[2], CultureInfo.InvariantCulture), End: long.Parse(p[3], CultureInfo.InvariantCulture), r.Worker)
                : default)
            .ToList();
        Assert.Equal(200, runs.Count);
        output.WriteLine($"runs by worker a: {runs.Count(r => r.Worker == "a")}, b: {runs.Count(r => r.Worker == "b")}");
        Assert.Contains(runs, r => r.Worker == "a");
        Assert.Contains(runs, r => r.Worker == "b");
        foreach (var key in runs.GroupBy(r => r.Key))
        {
            var ordered = key.OrderBy(r => r.Start).ToList();
            for (var i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i].Start >= ordered[i - 1].End, $"key {key.Key}: a run started at {ordered[i].Start} before the previous one ended at {ordered[i - 1].End}");
        }
    }

    [Fact]
    public async Task A_requests_trace_reaches_the_workers_task_and_event_spans_in_another_process()
    {
        var requests = new System.Diagnostics.ActivitySource("Celeriac.IntegrationTests.Requests");
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name is "Celeriac" or "Celeriac.IntegrationTests.Requests",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var store = CreateStore();
        await using var producer = Producer(store);
        using var worker = new WorkerProcess(store, Path.Combine(Dir, "traced.log"), concurrency: 2, prefetch: 0, new Dictionary<string, string> { ["CELERIAC_TEST_TRACE"] = "1" });
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

        TaskHandle handle;
        PublishReceipt receipt;
        System.Diagnostics.ActivityTraceId trace;
        using (var request = requests.StartActivity("POST /orders", System.Diagnostics.ActivityKind.Server))
        {
            Assert.NotNull(request);
            trace = request.TraceId;
            handle = await producer.GetRequiredService<ITaskClient>().SendAsync("proc.trace");
            // The worker saves its durable subscription as it starts: publish until it is there.
            var bus = producer.GetRequiredService<IEventBus>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!(receipt = await bus.PublishAsync("proc.traced.order")).Subscriptions.Contains("proc-traced"))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("The worker did not save its durable subscription.");
                await Task.Delay(100);
            }
        }
        string SpanOf(string name, string id) => stopped.Single(a => a.OperationName == name
            && ((string?)a.GetTagItem("celeriac.task.id") ?? (string?)a.GetTagItem("celeriac.event.id")) == id).SpanId.ToString();

        var result = await handle.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(TaskStates.Success, result?.State);
        // The worker's celeriac.task span: the request's trace, and the send span (in this process) as its parent.
        Assert.Equal($"\"{trace} {SpanOf("celeriac.send proc.trace", handle.Id)}\"", result!.Result);

        await WaitUntilAsync(() => worker.Runs().Any(l => l.StartsWith(receipt.Id, StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "the event handler to run");
        Assert.Equal($"{receipt.Id} {trace} {SpanOf("celeriac.publish proc.traced.order", receipt.Id)}", worker.Runs().Single(l => l.StartsWith(receipt.Id, StringComparison.Ordinal)));
        await worker.TerminateAsync(TimeSpan.FromSeconds(30));
    }

    protected static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteProcessTests(ITestOutputHelper output) : ProcessTests(output)
{
    protected override int KillTestTasks => 2000;
    internal override Store CreateStore() => new SqliteStore(Path.Combine(Dir, "tasks.db"));
}

public sealed class RedisProcessTests(RedisServer redis, ITestOutputHelper output) : ProcessTests(output), IClassFixture<RedisServer>
{
    protected override int KillTestTasks => 5000;
    internal override Store CreateStore() => new RedisStore(redis.Configuration, redis.NewPrefix());
}
