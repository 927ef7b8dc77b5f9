using System.Diagnostics;
using Celeriac.Transport;
using Celeriac.Transport.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>redis-server (append-only) is killed and started again in the middle of a run of two worker processes.</summary>
public sealed class RedisRestartProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly RedisServer _redis = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("celeriac-restart-").FullName;

    public Task InitializeAsync() => _redis.InitializeAsync();

    [Fact]
    public async Task All_tasks_complete_and_processes_recover_when_redis_restarts_mid_run()
    {
        var store = new RedisStore(_redis.Configuration, _redis.NewPrefix());
        await using var producer = new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider();
        var client = producer.GetRequiredService<ITaskClient>();
        var handles = new List<TaskHandle>();
        for (var i = 0; i < 2000; i++) handles.Add(await client.SendAsync("proc.record", new { n = i, delayMs = 3 }));

        using var a = new WorkerProcess(store, Path.Combine(_dir, "a.log"), concurrency: 8, prefetch: 8);
        using var b = new WorkerProcess(store, Path.Combine(_dir, "b.log"), concurrency: 8, prefetch: 8);
        int Runs() => a.Runs().Count + b.Runs().Count;
        await WaitUntilAsync(() => Runs() >= 300, TimeSpan.FromSeconds(60), "the workers to get going");

        await _redis.KillAsync();
        var atKill = Runs();
        // Sends while the server is down either fail for the caller or are delivered: never lost after returning.
        var duringOutage = Enumerable.Range(0, 20).Select(i => client.SendAsync("proc.record", new { n = 10_000 + i, delayMs = 1 }).AsTask()).ToList();
        await Task.Delay(TimeSpan.FromSeconds(2)); // the outage
        await _redis.RestartAsync();
        var restarted = Stopwatch.StartNew();
        await WaitUntilAsync(() => Runs() > atKill + 50, TimeSpan.FromSeconds(30), "the workers to resume after the restart");
        output.WriteLine($"runs at kill {atKill}; workers resumed {restarted.ElapsedMilliseconds} ms after the restart");
        Assert.True(restarted.Elapsed < TimeSpan.FromSeconds(15), $"recovery took {restarted.Elapsed}");

        foreach (var handle in handles)
        {
            var result = await handle.WaitAsync(TimeSpan.FromSeconds(120));
            if (result?.State != TaskStates.Success) output.WriteLine(await DescribeAsync(handle.Id, a, b));
            Assert.True(result?.State == TaskStates.Success, $"task {handle.Id} ended in {result?.State ?? "PENDING"}");
        }
        var accepted = 0;
        foreach (var send in duringOutage)
        {
            TaskHandle handle;
            try { handle = await send; }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException) { continue; }
            accepted++;
            Assert.Equal(TaskStates.Success, (await handle.WaitAsync(TimeSpan.FromSeconds(60)))?.State);
        }
        output.WriteLine($"sends during the outage: {accepted} accepted (all ran), {duringOutage.Count - accepted} failed to the caller");
        Assert.False(a.HasExited);
        Assert.False(b.HasExited);
    }

    /// <summary>For a task that never finished: where its message is in Redis, and what the workers said about it.</summary>
    private async Task<string> DescribeAsync(string id, WorkerProcess a, WorkerProcess b)
    {
        var text = new System.Text.StringBuilder($"-- task {id} in Redis:\n");
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: "*"))
        {
            var type = await db.KeyTypeAsync(key);
            if (type == StackExchange.Redis.RedisType.Hash && key.ToString().Contains(id, StringComparison.Ordinal))
                text.AppendLine($"{key}: {string.Join(", ", (await db.HashGetAllAsync(key)).Where(e => e.Name != "b").Select(e => $"{e.Name}={e.Value}"))}");
            else if (type == StackExchange.Redis.RedisType.SortedSet)
                await foreach (var entry in db.SortedSetScanAsync(key, $"*{id}*"))
                    text.AppendLine($"{key}: {entry.Element} (score {entry.Score})");
            else if (key.ToString().Contains(id, StringComparison.Ordinal))
                text.AppendLine($"{key}: {type}");
        }
        text.Append(a.Describe("a", id)).Append(b.Describe("b", id));
        return text.ToString();
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

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
