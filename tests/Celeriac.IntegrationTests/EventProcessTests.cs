using System.Globalization;
using Celeriac.Transport;
using Celeriac.Transport.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>
/// Events with real processes (Celeriac.TestWorker) on a shared store: durable subscribers get every event published
/// while they were down or killed, each durable name gets every event, and an ephemeral listener gets only what is
/// published while it listens. Each store's class is a one-line subclass.
/// </summary>
public abstract class EventProcessTests(ITestOutputHelper output) : IDisposable
{
    private const int Events = 1000;

    protected string Dir { get; } = Directory.CreateTempSubdirectory("celeriac-events-").FullName;

    internal abstract Store CreateStore();

    [Fact]
    public async Task Durable_subscribers_get_every_event_across_a_stop_and_a_kill_and_an_ephemeral_one_only_what_came_while_it_listened()
    {
        var store = CreateStore();
        await using var producer = new ServiceCollection().AddLogging().AddCeleriac(store.Configure).Services.BuildServiceProvider();
        var events = producer.GetRequiredService<IEventBus>();
        var subscriptions = producer.GetRequiredService<IEventStore>();
        var aLog = Path.Combine(Dir, "replica-a.log");
        var bLog = Path.Combine(Dir, "replica-b.log");
        var eLog = Path.Combine(Dir, "ephemeral.log");

        var a = Subscriber(store, aLog, "CELERIAC_TEST_DURABLE", "replica-a");
        var b = Subscriber(store, bLog, "CELERIAC_TEST_DURABLE", "replica-b");
        try
        {
            await a.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await b.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await WaitUntilAsync(async () => (await subscriptions.GetSubscriptionsAsync()).Count == 2, "both durable subscriptions to be saved");

            // replica-a is stopped; the first half is published while it is down.
            await a.TerminateAsync(TimeSpan.FromSeconds(30));
            for (var n = 0; n < Events / 2; n++)
                Assert.Equal(["replica-a", "replica-b"], (await events.PublishAsync($"proc.events.n{n % 7}", n)).Subscriptions.Order());

            // An ephemeral listener starts halfway; probes tell when it listens.
            using var ephemeral = Subscriber(store, eLog, "CELERIAC_TEST_EPHEMERAL", "1");
            await ephemeral.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await WaitUntilAsync(async () =>
            {
                await events.PublishAsync("proc.events.probe", -1);
                await Task.Delay(50);
                return Numbers(ephemeral).Contains(-1);
            }, "the ephemeral listener to listen");

            // replica-b is killed (SIGKILL) in the middle of the second half, and started again.
            for (var n = Events / 2; n < Events; n++)
            {
                await events.PublishAsync($"proc.events.n{n % 7}", n);
                if (n == Events * 3 / 4)
                {
                    b.Kill();
                    output.WriteLine($"killed replica-b after {Numbers(b).Count} events");
                    b.Dispose();
                    b = Subscriber(store, bLog, "CELERIAC_TEST_DURABLE", "replica-b");
                }
            }
            a.Dispose();
            a = Subscriber(store, aLog, "CELERIAC_TEST_DURABLE", "replica-a");

            await WaitUntilAsync(() => Task.FromResult(Distinct(a).Count == Events && Distinct(b).Count == Events), "both durable subscribers to get every event", TimeSpan.FromSeconds(120));
            var aRuns = Numbers(a).Where(n => n >= 0).ToList();
            var bRuns = Numbers(b).Where(n => n >= 0).ToList();
            output.WriteLine($"replica-a handled {aRuns.Count} ({aRuns.Count - Events} twice), replica-b {bRuns.Count} ({bRuns.Count - Events} twice), ephemeral {Numbers(ephemeral).Count(n => n >= 0)}");
            Assert.Equal(Enumerable.Range(0, Events), Distinct(a));
            Assert.Equal(Enumerable.Range(0, Events), Distinct(b));
            // replica-a was stopped gracefully: nothing ran twice. replica-b was killed: only what it held could run twice.
            Assert.Equal(Events, aRuns.Count);
            Assert.InRange(bRuns.Count - Events, 0, 16);

            // The ephemeral listener got exactly the second half, in publish order.
            await WaitUntilAsync(() => Task.FromResult(Numbers(ephemeral).Count(n => n >= 0) >= Events / 2), "the ephemeral listener to catch up");
            Assert.Equal(Enumerable.Range(Events / 2, Events / 2), Numbers(ephemeral).Where(n => n >= 0));

            var transport = producer.GetRequiredService<ITaskTransport>();
            // Probes the killed process held come back when their lease runs out; then every queue is empty.
            await WaitUntilAsync(async () => (await transport.GetQueueStatsAsync()).Where(s => s.Queue.StartsWith("events:", StringComparison.Ordinal)).All(s => s.Ready + s.Delayed + s.Leased == 0),
                "the durable queues to be empty", TimeSpan.FromSeconds(60));
            Assert.Empty(await transport.GetDeadLettersAsync(10));
        }
        finally
        {
            a.Dispose();
            b.Dispose();
        }
    }

    private static WorkerProcess Subscriber(Store store, string log, string variable, string value) =>
        new(store, log, concurrency: 8, prefetch: 8, new Dictionary<string, string> { [variable] = value });

    /// <summary>The event numbers a process logged, in the order it handled them.</summary>
    private static List<int> Numbers(WorkerProcess process) =>
        [.. process.Runs().Select(l => int.Parse(l.Split(' ')[0], CultureInfo.InvariantCulture))];

    private static List<int> Distinct(WorkerProcess process) => [.. Numbers(process).Where(n => n >= 0).Distinct().Order()];

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
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

public sealed class SqliteEventProcessTests(ITestOutputHelper output) : EventProcessTests(output)
{
    internal override Store CreateStore() => new SqliteStore(Path.Combine(Dir, "events.db"));
}

public sealed class RedisEventProcessTests(RedisServer redis, ITestOutputHelper output) : EventProcessTests(output), IClassFixture<RedisServer>
{
    internal override Store CreateStore() => new RedisStore(redis.Configuration, redis.NewPrefix());
}
