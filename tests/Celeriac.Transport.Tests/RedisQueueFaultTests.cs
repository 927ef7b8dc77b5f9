using Celeriac.Redis;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Celeriac.Transport.Tests;

/// <summary>
/// A queue whose Redis keys hold another type cannot be read without changing them: the worker sets it aside with one
/// error naming it, keeps consuming its other queues, and takes it back once the key is repaired.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisQueueFaultTests(RedisServer redis)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_damaged_queue_is_set_aside_with_one_error_while_the_other_queues_run_and_comes_back_when_repaired()
    {
        var logs = new DamagedRecordTests.LogCapture();
        var prefix = redis.NewPrefix();
        await using var h = new TransportHarness(
            c => { c.UseRedis(redis.Configuration, o => o.KeyPrefix = prefix); c.MapTask("echo", (int n) => n); },
            TimeProvider.System,
            configure: s => s.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information)));
        var client = h.Services.GetRequiredService<ITaskClient>();
        var connection = h.Services.GetRequiredService<RedisConnection>();
        var db = await connection.DatabaseAsync();
        var brokenReady = connection.Keys.Transport + "ready:broken";
        await db.StringSetAsync(brokenReady, "not a sorted set");

        var worker = ActivatorUtilities.CreateInstance<TaskWorker>(h.Services);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(new WorkerOptions
        {
            Queues = ["broken", "good"], Concurrency = 2, FetchWait = TimeSpan.FromMilliseconds(200),
            QueueRetryInterval = TimeSpan.FromMilliseconds(300), ShutdownTimeout = TimeSpan.FromSeconds(10),
        }, stop.Token);
        try
        {
            // The good queue runs while the broken one is set aside.
            for (var i = 0; i < 20; i++)
            {
                var handle = await client.SendAsync("echo", new[] { i }, o => o.Queue = "good");
                Assert.Equal(i, await handle.GetAsync<int>(Bound));
            }
            Assert.True(worker.Status.SetAsideQueues.ContainsKey("broken"));
            Assert.Contains("ready:broken", worker.Status.SetAsideQueues["broken"], StringComparison.Ordinal);
            // One error for the queue, however many times its retry failed; the fetch loop itself never counted a failure.
            await Eventually.TrueAsync(() => Task.FromResult(logs.CountExactly("Queue broken cannot make progress", LogLevel.Error) == 1), Bound);
            Assert.Equal(0, worker.Status.ConsecutiveFailures);

            // Repaired: the queue is taken back at its next retry, and its messages run.
            await db.KeyDeleteAsync(brokenReady);
            var late = await client.SendAsync("echo", new[] { 99 }, o => o.Queue = "broken");
            Assert.Equal(99, await late.GetAsync<int>(Bound));
            await Eventually.TrueAsync(() => Task.FromResult(logs.CountExactly("Queue broken works again", LogLevel.Information) == 1), Bound);
            Assert.Empty(worker.Status.SetAsideQueues);
            Assert.Equal(1, logs.CountExactly("Queue broken cannot make progress", LogLevel.Error));
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(Bound);
        }
    }
}
