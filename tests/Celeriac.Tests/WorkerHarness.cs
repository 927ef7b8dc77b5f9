using Celeriac.Memory;
using Celeriac.Transport;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Tests;

/// <summary>A service provider with the in-memory transport, a fake clock and a running worker.</summary>
internal sealed class WorkerHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _worker;

    public WorkerHarness(Action<CeleriacBuilder> configure, Action<IServiceCollection>? services = null, Action<WorkerOptions>? worker = null)
    {
        var collection = new ServiceCollection();
        collection.AddLogging();
        collection.AddSingleton<TimeProvider>(Time);
        services?.Invoke(collection);
        collection.AddCeleriac(c =>
        {
            c.UseInMemory();
            configure(c);
        });
        Provider = collection.BuildServiceProvider();
        Options = new WorkerOptions { Concurrency = 4, Prefetch = 2, LeaseDuration = TimeSpan.FromSeconds(30), FetchWait = TimeSpan.FromSeconds(1), ShutdownTimeout = TimeSpan.FromSeconds(5) };
        worker?.Invoke(Options);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    public ServiceProvider Provider { get; }
    public WorkerOptions Options { get; }
    public ITaskClient Client => Provider.GetRequiredService<ITaskClient>();
    public InMemoryTransport Transport => Provider.GetRequiredService<InMemoryTransport>();
    public IResultStore Results => Provider.GetRequiredService<IResultStore>();
    public TaskWorker Worker => Provider.GetRequiredService<TaskWorker>();
    public IEventBus Events => Provider.GetRequiredService<IEventBus>();
    public Celeriac.Events.EventHost EventHost => Provider.GetRequiredService<Celeriac.Events.EventHost>();

    /// <summary>
    /// Advances the fake clock by <paramref name="step"/> every <paramref name="every"/> (default 50 ms) of real time
    /// until <paramref name="task"/> has completed (at most 20 s): a timer the worker arms on the fake clock a moment
    /// after the test expected it (a loaded machine) still fires, where a single advance would leave it waiting for ever.
    /// </summary>
    public async Task AdvanceUntilAsync(Task task, TimeSpan step, TimeSpan? every = null)
    {
        var interval = every ?? TimeSpan.FromMilliseconds(50);
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); !task.IsCompleted; )
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException("The task did not complete while the clock advanced.");
            Time.Advance(step);
            await Task.WhenAny(task, Task.Delay(interval));
        }
        await task;
    }

    /// <summary>
    /// Advances the fake clock by <paramref name="by"/>, then lets it run on at the pace of real time until
    /// <paramref name="until"/> has completed (see <see cref="AdvanceUntilAsync"/>). Returns how far the clock ran
    /// beyond <paramref name="by"/>, so a test can check timings exactly.
    /// </summary>
    public async Task<TimeSpan> AdvanceAsync(TimeSpan by, Task until)
    {
        Time.Advance(by);
        var advanced = Time.GetUtcNow();
        var pace = TimeSpan.FromMilliseconds(20);
        await AdvanceUntilAsync(until, pace, pace);
        return Time.GetUtcNow() - advanced;
    }

    /// <summary>
    /// The dead letters once there are at least <paramref name="count"/>: a worker stores a failure's result
    /// before it moves the message to the dead-letter queue, so a caller that saw the result may be a step ahead.
    /// </summary>
    public async Task<IReadOnlyList<DeadLetter>> DeadLettersAsync(int count) =>
        await Eventually.GetAsync(async () => await Transport.GetDeadLettersAsync(100) is { } dead && dead.Count >= count ? dead : null);

    /// <summary>
    /// Waits until no message is ready, delayed or leased: a worker acks a message after it stored the result, so a
    /// caller that saw the result may be a step ahead.
    /// </summary>
    public Task QueueEmptyAsync() =>
        Eventually.TrueAsync(async () => (await Transport.GetQueueStatsAsync()).Sum(s => s.Ready + s.Delayed + s.Leased) == 0);

    /// <summary>Starts the event host (durable registration, ephemeral handlers) and waits until the durable subscriptions are saved.</summary>
    public async Task<WorkerHarness> StartEventsAsync()
    {
        await EventHost.StartAsync(_stop.Token);
        await EventHost.Registered.WaitAsync(TimeSpan.FromSeconds(10));
        return this;
    }

    public WorkerHarness Start()
    {
        _worker = Task.Run(() => Worker.RunAsync(Options, _stop.Token));
        return this;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await EventHost.StopAsync(CancellationToken.None);
        if (_worker is not null) await _worker.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Waits (in real time) until the task's stored state is one of <paramref name="states"/>.</summary>
    public async Task<TaskResult> WaitForStateAsync(string id, params string[] states)
    {
        var result = await Eventually.GetAsync(async () =>
        {
            var r = await Results.GetAsync(id);
            return r is not null && states.Contains(r.State) ? r : null;
        });
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await Provider.DisposeAsync();
        _stop.Dispose();
    }
}

/// <summary>Waits on a condition with a real-time timeout, yielding between checks.</summary>
internal static class Eventually
{
    public static async Task<T> GetAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout = null) where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(5);
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(5);
        }
    }

    public static async Task TrueAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition was not met in time.");
            await Task.Delay(5);
        }
    }
}
