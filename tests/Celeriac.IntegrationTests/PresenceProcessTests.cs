using Celeriac.Operations;
using Celeriac.Transport;
using Celeriac.Transport.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>
/// Presence and remote control across real worker processes on a shared store: heartbeats, a SIGKILLed worker gone
/// by itself, a graceful stop, a concurrency change at run time and a task revoked while it runs. Each store's class is
/// a one-line subclass.
/// </summary>
public abstract class PresenceProcessTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>A short heartbeat, so that three missed beats pass quickly.</summary>
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly Dictionary<string, string> Environment = new() { ["Celeriac__Presence__Interval"] = "00:00:00.5" };

    protected string Dir { get; } = Directory.CreateTempSubdirectory("celeriac-presence-").FullName;

    internal abstract Store CreateStore();

    private static ServiceProvider Producer(Store store) =>
        new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider();

    private WorkerProcess Start(Store store, string name, int concurrency = 2) =>
        new(store, Path.Combine(Dir, name + ".log"), concurrency, prefetch: 0, Environment);

    /// <summary>The ids of the test's worker processes, from their answers to a ping (remote control works on every store).</summary>
    private static async Task<Dictionary<int, string>> IdsAsync(IWorkerControl control, params WorkerProcess[] workers)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            var replies = await control.PingAsync(timeout: TimeSpan.FromSeconds(2));
            var ids = replies.Select(r => r.ProcessId).ToDictionary(id => int.Parse(id.Split(':')[^2], System.Globalization.CultureInfo.InvariantCulture));
            if (workers.All(w => ids.ContainsKey(w.Id))) return workers.ToDictionary(w => w.Id, w => ids[w.Id]);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not every worker answered: {string.Join(", ", ids.Values)}");
        }
    }

    private static async Task<IReadOnlyList<ProcessInfo>> ProcessesAsync(IWorkerControl control, Func<IReadOnlyList<ProcessInfo>, bool> until, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            var processes = await control.GetProcessesAsync();
            if (until(processes)) return processes;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}; live: {string.Join(", ", processes.Select(p => $"{p.Id} c={p.Concurrency} {p.Status}"))}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Two_workers_appear_a_killed_one_is_gone_within_three_beats_and_the_next_beat_shows_a_new_concurrency()
    {
        var store = CreateStore();
        await using var producer = Producer(store);
        // Presence needs an operations store shared by the processes (SQLite, Redis); the in-memory one is this process's own.
        Assert.False(producer.GetRequiredService<IOperationsStore>().GetType().Name == "InMemoryOperationsStore",
            "This store's transport registers no shared IOperationsStore yet: heartbeats cannot be seen across processes.");
        var control = producer.GetRequiredService<IWorkerControl>();
        using var a = Start(store, "a");
        using var b = Start(store, "b");
        await a.WaitReadyAsync(Bound);
        await b.WaitReadyAsync(Bound);

        var live = await ProcessesAsync(control, p => p.Count(x => x.Roles.Contains("worker")) == 2, "both workers' heartbeats");
        Assert.Equal([a.Id, b.Id], live.Select(p => p.Pid).Order());
        Assert.All(live, p => Assert.Equal(2, p.Concurrency));
        Assert.All(live, p => Assert.Equal("running", p.Status));
        var idA = live.Single(p => p.Pid == a.Id).Id;
        var idB = live.Single(p => p.Pid == b.Id).Id;

        // SIGKILL: no goodbye; its heartbeat expires three intervals after its last one.
        a.Kill();
        var killedAt = DateTime.UtcNow;
        await ProcessesAsync(control, p => p.All(x => x.Id != idA), "the killed worker's heartbeat to expire");
        var gone = DateTime.UtcNow - killedAt;
        output.WriteLine($"killed worker gone after {gone.TotalMilliseconds:N0} ms");
        Assert.True(gone <= Interval * 3 + TimeSpan.FromSeconds(2), $"gone only after {gone}");

        var reply = await control.SetConcurrencyAsync(idB, 5);
        Assert.True(reply is { Ok: true }, reply?.Message);
        var after = await ProcessesAsync(control, p => p.Any(x => x.Id == idB && x.Concurrency == 5), "the next heartbeat to show concurrency 5");
        Assert.Equal(idB, Assert.Single(after).Id);
    }

    [Fact]
    public async Task A_worker_changes_concurrency_revokes_a_running_task_and_stops_gracefully_when_asked()
    {
        var store = CreateStore();
        await using var producer = Producer(store);
        var control = producer.GetRequiredService<IWorkerControl>();
        var client = producer.GetRequiredService<ITaskClient>();
        using var worker = Start(store, "w", concurrency: 1);
        await worker.WaitReadyAsync(Bound);
        var id = (await IdsAsync(control, worker))[worker.Id];

        var ping = await control.PingAsync(id);
        Assert.True(Assert.Single(ping).Ok);
        output.WriteLine($"ping answered in {ping[0].Elapsed.TotalMilliseconds:N0} ms");
        var reply = await control.SetConcurrencyAsync(id, 3);
        Assert.True(reply is { Ok: true }, reply?.Message);
        Assert.Contains("1 -> 3", reply!.Message, StringComparison.Ordinal);

        // A long task (it waits on its token) is revoked while it runs: its token fires and it ends REVOKED.
        var running = await client.SendAsync("proc.record", new { n = 1, delayMs = 600_000 });
        // Once the worker holds it (a revoke before that removes it from its queue instead).
        var transport = producer.GetRequiredService<ITaskTransport>();
        var deadline = DateTime.UtcNow + Bound;
        while ((await transport.GetQueueStatsAsync()).Sum(q => q.Leased) == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The worker never leased the task.");
            await Task.Delay(20);
        }
        var revoked = await control.RevokeAsync(running.Id, TimeSpan.FromSeconds(10));
        Assert.True(revoked.Count == 1 && revoked[0].Ok, string.Join("; ", revoked.Select(r => r.Message)));
        Assert.Equal(id, revoked[0].ProcessId);
        var result = await running.WaitAsync(Bound);
        Assert.Equal(TaskStates.Revoked, result?.State);
        Assert.DoesNotContain(running.Id, worker.Runs());

        // The other tasks still run, then the worker is asked to stop and exits gracefully.
        var quick = await client.SendAsync("proc.record", new { n = 2, delayMs = 1 });
        Assert.Equal(2, await quick.GetAsync<int>(Bound));
        var stop = await control.StopAsync(id);
        Assert.True(stop is { Ok: true }, stop?.Message);
        Assert.Equal(0, await worker.WaitForExitAsync(Bound));
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}

public sealed class SqlitePresenceProcessTests(ITestOutputHelper output) : PresenceProcessTests(output)
{
    internal override Store CreateStore() => new SqliteStore(Path.Combine(Dir, "tasks.db"));
}

public sealed class RedisPresenceProcessTests(RedisServer redis, ITestOutputHelper output) : PresenceProcessTests(output), IClassFixture<RedisServer>
{
    internal override Store CreateStore() => new RedisStore(redis.Configuration, redis.NewPrefix());
}
