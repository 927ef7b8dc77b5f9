using System.Globalization;
using System.Text.Json;
using Celeriac.Memory;
using Celeriac.Scheduling;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Tests.Scheduling;

/// <summary>
/// One in-memory store (transport, locks, schedules) on a fake clock, with any number of schedulers on it, as
/// replicas sharing a store would be. Sent tick messages are drained from the transport and parsed from their ids.
/// </summary>
internal sealed class BeatHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<Replica> _replicas = [];
    private readonly List<(string Id, JsonElement Envelope)> _sent = [];

    public BeatHarness(Action<CeleriacBuilder>? configure = null, Action<BeatOptions>? beat = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(Time);
        services.AddCeleriac(c =>
        {
            c.UseInMemory();
            c.ConfigureBeat(o => beat?.Invoke(o));
            configure?.Invoke(c);
        });
        Provider = services.BuildServiceProvider();
    }

    public FakeTimeProvider Time { get; } = new(Start);
    public ServiceProvider Provider { get; }
    public IScheduleManager Manager => Provider.GetRequiredService<IScheduleManager>();
    public IScheduleStore Store => Provider.GetRequiredService<IScheduleStore>();
    public ILockProvider Locks => Provider.GetRequiredService<ILockProvider>();
    public InMemoryTransport Transport => Provider.GetRequiredService<InMemoryTransport>();

    /// <summary>Starts a scheduler replica (with its own lock provider, e.g. one that can be cut off).</summary>
    public Replica StartScheduler(ILockProvider? locks = null, ITaskClient? client = null)
    {
        object[] parameters = client is null ? [locks ?? Locks] : [locks ?? Locks, client];
        var scheduler = (BeatScheduler)ActivatorUtilities.CreateInstance(Provider, typeof(BeatScheduler), parameters);
        var replica = new Replica(scheduler);
        _replicas.Add(replica);
        return replica;
    }

    /// <summary>Ticks (Unix ms) sent for <paramref name="schedule"/> so far, in send order.</summary>
    public async Task<List<long>> TicksAsync(string schedule)
    {
        await DrainAsync();
        var prefix = $"beat:{schedule}:";
        return [.. _sent.Where(s => s.Id.StartsWith(prefix, StringComparison.Ordinal)).Select(s => long.Parse(s.Id[prefix.Length..], CultureInfo.InvariantCulture))];
    }

    /// <summary>The envelope sent for a tick.</summary>
    public async Task<JsonElement> EnvelopeAsync(string schedule, DateTimeOffset tick)
    {
        await DrainAsync();
        return _sent.Single(s => s.Id == BeatScheduler.TickKey(schedule, tick)).Envelope;
    }

    /// <summary>Advances the clock by <paramref name="step"/> and waits until <paramref name="schedule"/> has <paramref name="count"/> ticks.</summary>
    public async Task<List<long>> StepUntilAsync(string schedule, int count, TimeSpan step)
    {
        Time.Advance(step);
        List<long> ticks = [];
        await Eventually.TrueAsync(() => (ticks = TicksAsync(schedule).GetAwaiter().GetResult()).Count >= count);
        return ticks;
    }

    /// <summary>Advances the clock in small steps, yielding between them, until <paramref name="condition"/> holds.</summary>
    public async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan step, TimeSpan limit)
    {
        var end = Time.GetUtcNow() + limit;
        while (!condition())
        {
            if (Time.GetUtcNow() >= end) throw new TimeoutException($"The condition did not hold within {limit} of fake time.");
            Time.Advance(step);
            await Task.Delay(2);
        }
    }

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static long Ms(double secondsAfterStart) => Start.AddSeconds(secondsAfterStart).ToUnixTimeMilliseconds();

    private async Task DrainAsync()
    {
        while (true)
        {
            var batch = await Transport.ReceiveAsync(["default", "beat-queue"], 1000, TimeSpan.FromDays(3650), TimeSpan.Zero);
            if (batch.Count == 0) return;
            lock (_sent)
            {
                foreach (var m in batch) _sent.Add((m.Id, JsonDocument.Parse(m.Body).RootElement.Clone()));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var r in _replicas) await r.StopAsync();
        await Provider.DisposeAsync();
    }

    internal sealed class Replica
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        public Replica(BeatScheduler scheduler)
        {
            Scheduler = scheduler;
            _run = Task.Run(() => scheduler.RunAsync(_stop.Token));
        }

        public BeatScheduler Scheduler { get; }
        public bool IsLeader => Scheduler.IsLeader;

        public async Task StopAsync()
        {
            if (_stop.IsCancellationRequested) return;
            await _stop.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            _stop.Dispose();
        }
    }
}

/// <summary>A task client whose sends fail while <see cref="Failing"/> is set, as when the broker is briefly unreachable.</summary>
internal sealed class FlakyClient(ITaskClient inner) : ITaskClient
{
    public volatile bool Failing;
    public int Failures;

    public ValueTask<TaskHandle> SendAsync(TaskSignature signature, CancellationToken cancellationToken = default)
    {
        if (!Failing) return inner.SendAsync(signature, cancellationToken);
        Interlocked.Increment(ref Failures);
        throw new IOException("broker unreachable");
    }

    public ValueTask<TaskHandle> SendAsync(string task, object? args = null, Action<SendOptions>? configure = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<TaskHandle> ChainAsync(IReadOnlyList<TaskSignature> steps, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<GroupHandle> GroupAsync(IReadOnlyList<TaskSignature> members, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public ValueTask<bool> RevokeAsync(string taskId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public TaskHandle GetHandle(string taskId) => inner.GetHandle(taskId);
}

/// <summary>A lock provider that can be cut off from the store, as a replica whose process froze or lost its network.</summary>
internal sealed class SeverableLocks(ILockProvider inner) : ILockProvider
{
    public volatile bool Severed;

    public ValueTask<string?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken cancellationToken = default) =>
        Severed ? throw new IOException("cut off") : inner.TryAcquireAsync(key, lease, cancellationToken);

    public ValueTask<bool> RenewAsync(string key, string token, TimeSpan lease, CancellationToken cancellationToken = default) =>
        Severed ? throw new IOException("cut off") : inner.RenewAsync(key, token, lease, cancellationToken);

    public ValueTask<bool> ReleaseAsync(string key, string token, CancellationToken cancellationToken = default) =>
        Severed ? throw new IOException("cut off") : inner.ReleaseAsync(key, token, cancellationToken);
}
