using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>Two worker processes share one SQLite file; one is killed with SIGKILL mid-run; nothing is lost.</summary>
public sealed class SqliteKillTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("celeriac-kill-").FullName;

    [Fact]
    public async Task Every_task_completes_when_a_worker_is_killed_and_only_its_in_flight_tasks_run_twice()
    {
        const int Tasks = 2000;
        const int Concurrency = 8;
        const int Prefetch = 8;
        var db = Path.Combine(_dir, "tasks.db");

        await using var services = new ServiceCollection().AddLogging().AddCeleriac(c => c.UseSqlite(db)).Services.BuildServiceProvider();
        var client = services.GetRequiredService<ITaskClient>();
        var results = services.GetRequiredService<IResultStore>();
        var handles = new List<TaskHandle>(Tasks);
        for (var i = 0; i < Tasks; i++)
            handles.Add(await client.SendAsync("proc.record", new { n = i, delayMs = 5 }));

        using var victim = new WorkerProcess(db, Path.Combine(_dir, "victim.log"), Concurrency, Prefetch);
        using var survivor = new WorkerProcess(db, Path.Combine(_dir, "survivor.log"), Concurrency, Prefetch);

        // Kill the victim once both are busy and well before the queue is drained.
        await WaitUntilAsync(() => victim.Runs().Count >= 200 && survivor.Runs().Count >= 50, TimeSpan.FromSeconds(60), "both workers to run tasks");
        victim.Kill();
        var victimRunsAtKill = victim.Runs().Count;
        output.WriteLine($"killed worker {victim.Id} after {victimRunsAtKill} runs");

        // Every task reaches SUCCESS (the survivor picks up the victim's leased messages when their leases run out).
        foreach (var handle in handles)
        {
            var result = await handle.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.True(result?.State == TaskStates.Success, $"task {handle.Id} ended in {result?.State ?? "PENDING"}: {result?.Error?.Message}");
        }

        var runs = victim.Runs().Concat(survivor.Runs()).GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var duplicates = runs.Where(r => r.Value > 1).Select(r => r.Key).ToList();
        output.WriteLine($"runs: victim {victim.Runs().Count}, survivor {survivor.Runs().Count}, distinct {runs.Count}, run twice {duplicates.Count}");
        Assert.Equal(Tasks, runs.Count);
        Assert.All(handles, h => Assert.True(runs.ContainsKey(h.Id)));
        // Only messages the victim held when it died can run twice: at most its running plus prefetched ones.
        Assert.InRange(duplicates.Count, 0, Concurrency + Prefetch);
        Assert.All(duplicates, id => Assert.Contains(id, victim.Runs()));
        Assert.All(runs.Values, count => Assert.InRange(count, 1, 2));
        await survivor.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.True(survivor.HasExited);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
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
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
