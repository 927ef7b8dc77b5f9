using Celeriac.Events;
using Celeriac.Memory;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Celeriac.Tests;

/// <summary>Stall alerts, the fetch watchdog and the health checks, on the in-memory store with a fake clock.</summary>
public sealed class OperationsTests
{
    private static StallMonitor MonitorOf(WorkerHarness h) => h.Provider.GetServices<IHostedService>().OfType<StallMonitor>().Single();

    private static async Task<HealthCheckResult> CheckAsync<T>(WorkerHarness h, params object[] arguments) where T : IHealthCheck
    {
        var check = ActivatorUtilities.CreateInstance<T>(h.Provider, arguments);
        return await check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration(typeof(T).Name, check, HealthStatus.Unhealthy, null) });
    }

    /// <summary>Collects the events published on <paramref name="pattern"/> from now on.</summary>
    private static async Task<(List<EventMessage> Received, CancellationTokenSource Stop)> ListenAsync(WorkerHarness h, string pattern, string probeSubject)
    {
        var stop = new CancellationTokenSource();
        var received = new List<EventMessage>();
        var ready = new TaskCompletionSource();
        var probed = new TaskCompletionSource();
        _ = Task.Run(async () =>
        {
            await using var e = h.Events.SubscribeAsync(pattern, stop.Token).GetAsyncEnumerator(stop.Token);
            var move = e.MoveNextAsync();
            ready.SetResult();
            try
            {
                while (await move)
                {
                    if (e.Current.Subject != probeSubject) lock (received) received.Add(e.Current);
                    else probed.TrySetResult();
                    move = e.MoveNextAsync();
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        await ready.Task;
        await Eventually.TrueAsync(async () =>
        {
            await h.Events.PublishAsync(probeSubject, 0);
            return probed.Task.IsCompleted;
        });
        return (received, stop);
    }

    [Fact]
    public async Task A_stalled_queue_raises_one_stalled_event_and_one_recovered_event_when_a_worker_drains_it()
    {
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("work", () => 1);
            c.AlertWhenStalled("default", TimeSpan.FromMinutes(2));
        });
        var (received, stop) = await ListenAsync(h, "celeriac.queue.*", "celeriac.queue.probe");
        using var _ = stop;
        var monitor = MonitorOf(h);

        var handle = await h.Client.SendAsync("work");   // no worker yet
        await monitor.CheckAsync(CancellationToken.None);
        h.Time.Advance(TimeSpan.FromMinutes(2));
        await monitor.CheckAsync(CancellationToken.None);   // exactly the threshold: not past it
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync<QueuesHealthCheck>(h)).Status);
        for (var i = 0; i < 5; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(10));
            await monitor.CheckAsync(CancellationToken.None);
        }
        var queues = await CheckAsync<QueuesHealthCheck>(h);
        Assert.Equal(HealthStatus.Unhealthy, queues.Status);   // the registration's failure status (Degraded when added by AddCeleriac)
        Assert.Contains("default", queues.Description);

        h.Start();
        await h.WaitForStateAsync(handle.Id, TaskStates.Success);
        await h.QueueEmptyAsync();
        h.Time.Advance(TimeSpan.FromSeconds(10));
        await monitor.CheckAsync(CancellationToken.None);
        await monitor.CheckAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => { lock (received) return Task.FromResult(received.Count >= 2); });

        List<EventMessage> events;
        lock (received) events = [.. received];
        Assert.Equal([StallMonitor.StalledSubject, StallMonitor.RecoveredSubject], events.Select(e => e.Subject));
        var stalled = events[0].GetPayload<QueueStallAlert>()!;
        Assert.Equal("default", stalled.Queue);
        Assert.Equal(1, stalled.Ready);
        Assert.Equal(TimeSpan.FromMinutes(2), stalled.StalledAfter);
        Assert.Equal(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(10), stalled.At - stalled.OldestReadyAt);
        var recovered = events[1].GetPayload<QueueStallAlert>()!;
        Assert.Equal(0, recovered.Ready);
        Assert.Equal(TimeSpan.FromSeconds(50), recovered.StalledFor);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync<QueuesHealthCheck>(h)).Status);
    }

    [Fact]
    public async Task The_stall_monitor_runs_in_one_process_at_a_time()
    {
        await using var h = new WorkerHarness(c => c.AlertWhenStalled("default", TimeSpan.FromMinutes(1)));
        var locks = h.Provider.GetRequiredService<ILockProvider>();
        var other = await locks.TryAcquireAsync(StallMonitor.LockKey, TimeSpan.FromMinutes(10));
        Assert.NotNull(other);   // another process watches
        var (received, stop) = await ListenAsync(h, "celeriac.queue.*", "celeriac.queue.probe");
        using var _ = stop;
        await h.Client.SendAsync("work");
        h.Time.Advance(TimeSpan.FromMinutes(5));

        var monitor = MonitorOf(h);
        await monitor.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(async () =>
        {
            h.Time.Advance(TimeSpan.FromSeconds(10));   // the checks run and find the lock taken
            await Task.Delay(20);
            return monitor.ExecuteTask is { } t && !t.IsCompleted;
        });
        await locks.ReleaseAsync(StallMonitor.LockKey, other);
        await Eventually.TrueAsync(async () =>
        {
            h.Time.Advance(TimeSpan.FromSeconds(10));   // now it takes the lock and alerts, once
            await Task.Delay(20);
            lock (received) return received.Count > 0;
        });
        for (var i = 0; i < 10; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(20);
        }
        await monitor.StopAsync(CancellationToken.None);
        lock (received) Assert.Equal([StallMonitor.StalledSubject], received.Select(e => e.Subject));
        Assert.NotNull(await locks.TryAcquireAsync(StallMonitor.LockKey, TimeSpan.FromSeconds(1)));   // released on stop
    }

    [Fact]
    public async Task The_watchdog_abandons_a_stuck_receive_reports_unhealthy_and_recovers()
    {
        HangingTransport? hanging = null;
        await using var h = new WorkerHarness(
            c =>
            {
                c.MapTask("work", () => 1);
                c.Services.AddSingleton<ITaskTransport>(sp => hanging = new HangingTransport(sp.GetRequiredService<InMemoryTransport>()));
            },
            worker: o => o.WatchdogTimeout = TimeSpan.FromSeconds(30));
        _ = h.Provider.GetRequiredService<ITaskTransport>();
        hanging!.Hang = true;
        h.Start();
        await Eventually.TrueAsync(() => Task.FromResult(hanging.Hanging > 0));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync<Celeriac.Operations.WorkerHealthCheck>(h)).Status);

        await h.AdvanceUntilAsync(Eventually.TrueAsync(() => Task.FromResult(h.Worker.Status.Stuck)), TimeSpan.FromSeconds(1));
        var unhealthy = await CheckAsync<Celeriac.Operations.WorkerHealthCheck>(h);
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Contains("stuck", unhealthy.Description);
        Assert.True(hanging.Cancelled > 0, "the abandoned receive was not cancelled");

        hanging.Hang = false;   // the connection works again
        var handle = await h.Client.SendAsync("work");
        await h.AdvanceUntilAsync(h.WaitForStateAsync(handle.Id, TaskStates.Success), TimeSpan.FromSeconds(1));
        Assert.False(h.Worker.Status.Stuck);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync<Celeriac.Operations.WorkerHealthCheck>(h)).Status);
    }

    [Fact]
    public async Task The_store_check_is_healthy_when_the_store_answers_and_unhealthy_when_it_does_not()
    {
        HangingTransport? hanging = null;
        await using var h = new WorkerHarness(c => c.Services.AddSingleton<ITaskTransport>(sp => hanging = new HangingTransport(sp.GetRequiredService<InMemoryTransport>())));
        _ = h.Provider.GetRequiredService<ITaskTransport>();
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync<StoreHealthCheck>(h, TimeSpan.FromSeconds(5))).Status);
        hanging!.Fail = true;
        var failed = await CheckAsync<StoreHealthCheck>(h, TimeSpan.FromSeconds(5));
        Assert.Equal(HealthStatus.Unhealthy, failed.Status);
        Assert.Contains("store is down", failed.Description);
    }

    [Fact]
    public void AddCeleriac_registers_the_four_checks_tagged_ready()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddCeleriac(c => c.UseInMemory());
        services.AddHealthChecks().AddCeleriac();
        using var provider = services.BuildServiceProvider();
        var registrations = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value.Registrations;
        Assert.Equal(["celeriac.store", "celeriac.worker", "celeriac.queues", "celeriac.beat"], registrations.Select(r => r.Name));
        Assert.All(registrations, r => Assert.Contains(CeleriacHealthCheckExtensions.ReadyTag, r.Tags));
        Assert.Equal(HealthStatus.Degraded, registrations.Single(r => r.Name == "celeriac.queues").FailureStatus);
    }

    /// <summary>The in-memory transport with a receive that can hang (a stuck connection) and a stats read that can fail.</summary>
    private sealed class HangingTransport(InMemoryTransport inner) : ITaskTransport
    {
        private int _hanging;
        private int _cancelled;

        public volatile bool Hang;
        public volatile bool Fail;

        public int Hanging => Volatile.Read(ref _hanging);
        public int Cancelled => Volatile.Read(ref _cancelled);

        public async ValueTask<IReadOnlyList<LeasedMessage>> ReceiveAsync(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait, CancellationToken cancellationToken = default)
        {
            if (!Hang) return await inner.ReceiveAsync(queues, maxMessages, lease, maxWait, cancellationToken);
            Interlocked.Increment(ref _hanging);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
                throw;
            }
            return [];
        }

        public ValueTask<IReadOnlyList<QueueStats>> GetQueueStatsAsync(CancellationToken cancellationToken = default) =>
            Fail ? throw new InvalidOperationException("the store is down") : inner.GetQueueStatsAsync(cancellationToken);

        public ValueTask<string[]> EnqueueAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default) => inner.EnqueueAsync(messages, cancellationToken);
        public ValueTask<bool> AckAsync(LeasedMessage message, CancellationToken cancellationToken = default) => inner.AckAsync(message, cancellationToken);
        public ValueTask<IReadOnlyList<LeasedMessage>> RenewAsync(IReadOnlyList<LeasedMessage> messages, TimeSpan lease, CancellationToken cancellationToken = default) => inner.RenewAsync(messages, lease, cancellationToken);
        public ValueTask<bool> ReleaseAsync(LeasedMessage message, DateTimeOffset? visibleAt, string? newBody, CancellationToken cancellationToken = default) => inner.ReleaseAsync(message, visibleAt, newBody, cancellationToken);
        public ValueTask<bool> DeadLetterAsync(LeasedMessage message, DeadLetterInfo info, CancellationToken cancellationToken = default) => inner.DeadLetterAsync(message, info, cancellationToken);
        public ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default) => inner.GetDeadLettersAsync(limit, cancellationToken);
        public ValueTask<string?> RemoveAsync(string id, CancellationToken cancellationToken = default) => inner.RemoveAsync(id, cancellationToken);
        public ValueTask<DeadLetter?> GetDeadLetterAsync(string id, CancellationToken cancellationToken = default) => inner.GetDeadLetterAsync(id, cancellationToken);
        public ValueTask<bool> RequeueDeadLetterAsync(string id, string newBody, CancellationToken cancellationToken = default) => inner.RequeueDeadLetterAsync(id, newBody, cancellationToken);
        public ValueTask<bool> DeleteDeadLetterAsync(string id, CancellationToken cancellationToken = default) => inner.DeleteDeadLetterAsync(id, cancellationToken);
        public ValueTask<long> PurgeAsync(string queue, CancellationToken cancellationToken = default) => inner.PurgeAsync(queue, cancellationToken);
    }
}
