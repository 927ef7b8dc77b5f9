using Celeriac.Events;
using Celeriac.Memory;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Celeriac;

/// <summary>Configures Celeriac: the transport, tasks and options. Returned by <c>AddCeleriac</c>.</summary>
public sealed class CeleriacBuilder
{
    internal CeleriacBuilder(IServiceCollection services, TaskRegistry registry, SubscriptionRegistry subscriptions)
    {
        Services = services;
        Registry = registry;
        Subscriptions = subscriptions;
    }

    /// <summary>The service collection, for transport extensions.</summary>
    public IServiceCollection Services { get; }

    internal TaskRegistry Registry { get; }

    internal SubscriptionRegistry Subscriptions { get; }

    /// <summary>Registers a task. See <see cref="TaskHostExtensions.MapTask"/> for how parameters bind.</summary>
    public TaskBuilder MapTask(string name, Delegate handler) => new(Registry.Add(name, handler));

    /// <summary>Subscribes to events. See <see cref="SubscriptionHostExtensions.MapSubscription"/> for how it works.</summary>
    public SubscriptionBuilder MapSubscription(string pattern, Delegate handler, string? durable = null) => new(Subscriptions.Add(pattern, handler, durable));

    /// <summary>Changes shared options.</summary>
    public CeleriacBuilder Configure(Action<CeleriacOptions> configure)
    {
        Services.Configure(configure);
        return this;
    }

    /// <summary>Changes worker options.</summary>
    public CeleriacBuilder ConfigureWorker(Action<WorkerOptions> configure)
    {
        Services.Configure(configure);
        return this;
    }

    /// <summary>
    /// Alerts when <paramref name="queue"/> stops moving: once its oldest ready message has waited longer than
    /// <paramref name="stalledAfter"/>, one warning is logged and one <c>celeriac.queue.stalled</c> event
    /// (<see cref="QueueStallAlert"/>) is published; when it moves again, one <c>celeriac.queue.recovered</c> event.
    /// Checked every <see cref="StallAlertOptions.CheckInterval"/> by one process at a time.
    /// </summary>
    public CeleriacBuilder AlertWhenStalled(string queue, TimeSpan stalledAfter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stalledAfter, TimeSpan.Zero);
        Services.Configure<StallAlertOptions>(o => o.StalledAfter[queue] = stalledAfter);
        return this;
    }

    /// <summary>
    /// For transport extensions (<c>UseSqlite</c>, <c>UseRedis</c>, …): removes the transport, result store, lock
    /// provider, schedule store, event store and channel layer registered before, so that the ones registered next replace them.
    /// </summary>
    public CeleriacBuilder ClearStores()
    {
        Services.RemoveAll<ITaskTransport>();
        Services.RemoveAll<IResultStore>();
        Services.RemoveAll<ILockProvider>();
        Services.RemoveAll<IScheduleStore>();
        Services.RemoveAll<IEventStore>();
        Services.RemoveAll<IChannelLayer>();
        Services.RemoveAll<IOperationsStore>();
        return this;
    }

    /// <summary>
    /// Uses an in-process transport, result store, lock provider, schedule store and event store: fast, not durable, not shared with other processes.
    /// For tests and single-process tools.
    /// </summary>
    public CeleriacBuilder UseInMemory()
    {
        ClearStores();
        Services.AddSingleton<ILockProvider, InMemoryLockProvider>();
        Services.AddSingleton<IScheduleStore, InMemoryScheduleStore>();
        Services.AddSingleton<InMemoryTransport>();
        Services.AddSingleton<ITaskTransport>(sp => sp.GetRequiredService<InMemoryTransport>());
        Services.AddSingleton<IResultStore, InMemoryResultStore>();
        Services.AddSingleton<IEventStore, InMemoryEventStore>();
        Services.AddSingleton<IOperationsStore, InMemoryOperationsStore>();
        return this;
    }
}
