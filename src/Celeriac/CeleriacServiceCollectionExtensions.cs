using Celeriac.Events;
using Celeriac.Memory;
using Celeriac.Operations;
using Celeriac.Scheduling;
using Celeriac.Transport;
using Celeriac.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac;

/// <summary>Adds Celeriac to a service collection.</summary>
public static class CeleriacServiceCollectionExtensions
{
    /// <summary>
    /// Adds the task client, the event bus, the worker, the scheduler, the event host, the task journal, this process's heartbeat and remote control (hosted services; <c>IWorkerControl</c>, <c>ITaskHistory</c>), the task, subscription and schedule registries, and lets <paramref name="configure"/>
    /// pick a transport (<c>UseSqlite</c>, <c>UseInMemory</c>, …) and register tasks. Calling it again adds to the same setup.
    /// </summary>
    public static CeleriacBuilder AddCeleriac(this IServiceCollection services, Action<CeleriacBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var registry = services.FirstOrDefault(d => d.ServiceType == typeof(TaskRegistry))?.ImplementationInstance as TaskRegistry;
        if (registry is null)
        {
            registry = new TaskRegistry();
            services.AddSingleton(registry);
        }
        var subscriptions = services.FirstOrDefault(d => d.ServiceType == typeof(SubscriptionRegistry))?.ImplementationInstance as SubscriptionRegistry;
        if (subscriptions is null)
        {
            subscriptions = new SubscriptionRegistry();
            services.AddSingleton(subscriptions);
        }

        services.AddOptions<CeleriacOptions>().Configure<IServiceProvider>((o, sp) => Bind(sp, "Celeriac", o)).Validate(o => o.MaxMessageBytes > 0 && o.WarnMessageBytes > 0 && !string.IsNullOrWhiteSpace(o.DefaultQueue), "Celeriac options: sizes must be positive and DefaultQueue set.").ValidateOnStart();
        services.AddOptions<WorkerOptions>().Configure<IServiceProvider>((o, sp) =>
        {
            Bind(sp, "Celeriac:Worker", o);
            // The binder appends to a list that has items; configured queues replace the default instead.
            if (sp.GetService<IConfiguration>()?.GetSection("Celeriac:Worker:Queues").Get<string[]>() is { Length: > 0 } queues) o.Queues = queues;
        }).Validate(o => o.Concurrency > 0 && o.Prefetch >= 0 && o.Queues.Count > 0 && o.LeaseDuration > TimeSpan.Zero, "Worker options: Concurrency > 0, Prefetch >= 0, at least one queue, a positive lease.").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<CeleriacRuntime>();
        services.TryAddSingleton<TaskClient>();
        services.TryAddSingleton<ITaskClient>(sp => sp.GetRequiredService<TaskClient>());
        services.TryAddSingleton<EventBus>();
        services.TryAddSingleton<IEventBus>(sp => sp.GetRequiredService<EventBus>());
        services.TryAddSingleton<EventHost>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, EventHost>(sp => sp.GetRequiredService<EventHost>()));
        services.AddOptions<PresenceOptions>().Configure<IServiceProvider>((o, sp) => Bind(sp, "Celeriac:Presence", o))
            .Validate(o => o.Interval > TimeSpan.Zero && o.JournalWindow > TimeSpan.Zero && o.JournalSize > 0, "Presence options: Interval, JournalWindow and JournalSize must be positive.").ValidateOnStart();
        // Before the worker: hosted services stop in reverse order, so the journal, the heartbeat and remote control
        // outlive the worker's drain (its last events are written, it shows as stopping, and says goodbye after).
        services.TryAddSingleton<LocalProcess>();
        services.TryAddSingleton<TaskJournal>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TaskJournal>(sp => sp.GetRequiredService<TaskJournal>()));
        services.TryAddSingleton<ITaskHistory, TaskHistory>();
        services.TryAddSingleton<ProcessPresence>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProcessPresence>(sp => sp.GetRequiredService<ProcessPresence>()));
        services.TryAddSingleton<ControlListener>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ControlListener>(sp => sp.GetRequiredService<ControlListener>()));
        services.TryAddSingleton<IWorkerControl, WorkerControl>();
        services.TryAddSingleton<TaskWorker>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TaskWorkerHost>());
        SchedulingServices.Add(services);
        services.AddOptions<StallAlertOptions>().Configure<IServiceProvider>((o, sp) => Bind(sp, "Celeriac:Alerts", o))
            .Validate(o => o.CheckInterval > TimeSpan.Zero && o.StalledAfter.All(p => p.Value > TimeSpan.Zero), "Stall alerts: CheckInterval and every StalledAfter must be positive.").ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StallMonitor>());
        services.TryAddSingleton<StoreGauges>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoreGauges>(sp => sp.GetRequiredService<StoreGauges>()));
        services.TryAddSingleton<IDeadLetters, DeadLetters>();

        services.AddOptions<ChannelLayerOptions>().Configure<IServiceProvider>((o, sp) => Bind(sp, "Celeriac:Channels", o))
            .Validate(o => o.HistoryLength >= 0 && o.HistoryWindow >= TimeSpan.Zero && o.MaxMessageBytes > 0, "Channel layer options: HistoryLength >= 0, HistoryWindow >= 0, MaxMessageBytes > 0.").ValidateOnStart();

        var builder = new CeleriacBuilder(services, registry, subscriptions);
        configure?.Invoke(builder);
        // One process's channel layer unless a transport (UseRedis) registered a shared one.
        services.TryAddSingleton<IChannelLayer, InMemoryChannelLayer>();
        services.TryAddSingleton<IOperationsStore, InMemoryOperationsStore>();
        return builder;
    }

    /// <summary>Binds a configuration section when the container has configuration (a host always does).</summary>
    private static void Bind(IServiceProvider services, string section, object options) =>
        services.GetService<IConfiguration>()?.GetSection(section).Bind(options);
}

/// <summary>Registers tasks on a built host (a <c>WebApplication</c> or a generic host).</summary>
public static class TaskHostExtensions
{
    /// <summary>
    /// Registers <paramref name="handler"/> as the task <paramref name="name"/>. Parameters bind from, in order: a
    /// <see cref="CancellationToken"/> (fires at the soft time limit and on shutdown), a <see cref="TaskContext"/>,
    /// services from the container (a new scope per run), keyword arguments by name, positional arguments in order,
    /// and default values. The return value (also of a <c>Task&lt;T&gt;</c>) becomes the result.
    /// </summary>
    public static TaskBuilder MapTask(this IHost host, string name, Delegate handler)
    {
        ArgumentNullException.ThrowIfNull(host);
        var registry = host.Services.GetService<TaskRegistry>()
            ?? throw new InvalidOperationException("Call services.AddCeleriac(...) before MapTask.");
        return new TaskBuilder(registry.Add(name, handler));
    }
}

/// <summary>What this process runs: set by the command line before the host starts.</summary>
internal sealed class CeleriacRuntime(IOptions<WorkerOptions> worker)
{
    /// <summary>Whether the worker hosted service consumes queues in this process.</summary>
    public bool RunWorker { get; set; } = true;

    /// <summary>Whether the beat hosted service competes to lead and fire schedules in this process.</summary>
    public bool RunBeat { get; set; } = true;

    public WorkerOptions Worker { get; } = worker.Value;
}
