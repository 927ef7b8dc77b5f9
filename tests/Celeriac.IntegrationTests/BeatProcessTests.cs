using System.Globalization;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Celeriac.Transport.Tests;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>
/// Beat's promise with real processes: two <c>beat</c> processes share a store, one leads and fires a 500 ms schedule,
/// the leader is killed with SIGKILL, the other takes over; a worker process runs every tick's task. Every tick is
/// run once (none twice) and the only gap is the failover, no longer than the lease plus a follower poll plus one
/// interval. Each store's class is a one-line subclass.
/// </summary>
public abstract class BeatProcessTests(ITestOutputHelper output) : IDisposable
{
    private const int IntervalMs = 500;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);

    protected string Dir { get; } = Directory.CreateTempSubdirectory("celeriac-beat-").FullName;

    internal abstract Store CreateStore();

    [Fact]
    public async Task Two_beat_processes_fire_each_tick_once_and_the_survivor_takes_over_when_the_leader_is_killed()
    {
        var store = CreateStore();
        using var worker = new WorkerProcess(store, Path.Combine(Dir, "worker.log"), concurrency: 4, prefetch: 0);
        using var a = new BeatProcess(store, Dir, "a", IntervalMs, Lease);
        await WaitUntilAsync(() => a.Leads, TimeSpan.FromSeconds(30), "beat a to lead", a);
        using var b = new BeatProcess(store, Dir, "b", IntervalMs, Lease);
        await WaitUntilAsync(() => b.Output.Any(l => l.Contains("Beat started", StringComparison.Ordinal)), TimeSpan.FromSeconds(30), "beat b to start", b);

        await WaitUntilAsync(() => Ticks(worker).Count >= 6, TimeSpan.FromSeconds(30), "six ticks from the first leader", a);
        Assert.False(b.Leads);
        a.Kill();
        var killedAt = DateTimeOffset.UtcNow;
        var before = Ticks(worker);
        await WaitUntilAsync(() => b.Leads, TimeSpan.FromSeconds(15), "beat b to take over", b);
        output.WriteLine($"b took over {(DateTimeOffset.UtcNow - killedAt).TotalMilliseconds:N0} ms after the kill");
        await WaitUntilAsync(() => Ticks(worker).Count >= before.Count + 6, TimeSpan.FromSeconds(30), "six ticks from the new leader", b);

        await b.TerminateAsync(TimeSpan.FromSeconds(20));
        Assert.True(b.ExitCode == 0, $"beat b exited with {b.ExitCode}:\n{b.Log()}");
        // Let the worker run what was sent before the scheduler stopped.
        await using (var producer = new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider())
        {
            var transport = producer.GetRequiredService<ITaskTransport>();
            await WaitUntilAsync(() => transport.GetQueueStatsAsync().AsTask().GetAwaiter().GetResult().Sum(q => q.Ready + q.Leased + q.Delayed) == 0,
                TimeSpan.FromSeconds(20), "the worker to drain the queue", b);
        }

        var runs = worker.Runs();
        var ticks = Ticks(worker);
        output.WriteLine($"ticks run: {ticks.Count} ({runs.Count} runs), from {ticks[0]} to {ticks[^1]}");
        Assert.Equal(runs.Count, ticks.Distinct().Count());                   // no tick run twice
        var sorted = ticks.Order().ToList();
        var gaps = sorted.Zip(sorted.Skip(1), (x, y) => y - x).ToList();
        Assert.All(gaps, g => Assert.Equal(0, g % IntervalMs));                 // every tick is on the schedule
        var failover = gaps.Where(g => g > IntervalMs).ToList();
        output.WriteLine($"gaps over one interval: [{string.Join(", ", failover)}] ms");
        // At most one gap (the failover), no longer than the lease + a follower poll (lease / 10) + one interval, plus
        // some slack for process scheduling on a busy machine.
        Assert.True(failover.Count <= 1, $"gaps: {string.Join(", ", failover)}");
        var bound = Lease.TotalMilliseconds + Lease.TotalMilliseconds / 10 + IntervalMs + 1000;
        Assert.All(failover, g => Assert.True(g <= bound, $"failover gap {g} ms over {bound} ms"));
        // The count equals the number of ticks in the run minus those of the failover gap.
        var expected = (sorted[^1] - sorted[0]) / IntervalMs + 1 - failover.Sum(g => g / IntervalMs - 1);
        Assert.Equal(expected, ticks.Count);
    }

    /// <summary>The tick times (Unix ms) of the proc.tick runs the worker logged (task id beat:proc.beat:{tick}).</summary>
    private static List<long> Ticks(WorkerProcess worker) =>
        [.. worker.Runs().Where(id => id.StartsWith("beat:proc.beat:", StringComparison.Ordinal))
            .Select(id => long.Parse(id["beat:proc.beat:".Length..], CultureInfo.InvariantCulture))];

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, BeatProcess process)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}. Output of beat {process.Name}:\n{process.Log()}");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteBeatProcessTests(ITestOutputHelper output) : BeatProcessTests(output)
{
    internal override Store CreateStore() => new SqliteStore(Path.Combine(Dir, "beat.db"));
}

public sealed class RedisBeatProcessTests(RedisServer redis, ITestOutputHelper output) : BeatProcessTests(output), IClassFixture<RedisServer>
{
    internal override Store CreateStore() => new RedisStore(redis.Configuration, redis.NewPrefix());
}
