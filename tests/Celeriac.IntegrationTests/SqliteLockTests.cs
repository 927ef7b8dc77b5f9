using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>Two worker processes on one SQLite file never run two tasks of the same lock key at once.</summary>
public sealed class SqliteLockTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("celeriac-lock-").FullName;

    [Fact]
    public async Task Tasks_on_the_same_key_never_overlap_across_processes()
    {
        var db = Path.Combine(_dir, "tasks.db");
        await using var services = new ServiceCollection().AddLogging().AddCeleriac(c => c.UseSqlite(db)).Services.BuildServiceProvider();
        var client = services.GetRequiredService<ITaskClient>();
        var handles = new List<TaskHandle>();
        for (var i = 0; i < 200; i++) handles.Add(await client.SendAsync("proc.locked", new { key = i % 10, delayMs = 10 }));

        using var a = new WorkerProcess(db, Path.Combine(_dir, "a.log"), concurrency: 8, prefetch: 4);
        using var b = new WorkerProcess(db, Path.Combine(_dir, "b.log"), concurrency: 8, prefetch: 4);
        foreach (var handle in handles)
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(120)))?.State);

        var runs = a.Runs().Select(l => (Line: l, Worker: "a")).Concat(b.Runs().Select(l => (Line: l, Worker: "b")))
            .Select(r => r.Line.Split(' ') is var p ? (Key: int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture), Start: long.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture), End: long.Parse(p[3], System.Globalization.CultureInfo.InvariantCulture), r.Worker) : default)
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

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
