using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Celeriac.Scheduling;

/// <summary>The beat services, added by <c>AddCeleriac</c>.</summary>
internal static class SchedulingServices
{
    public static void Add(IServiceCollection services)
    {
        RegistryOf(services);
        services.AddOptions<BeatOptions>()
            .Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection("Celeriac:Beat").Bind(o))
            .Validate(o => o.LeaderLease >= TimeSpan.FromMilliseconds(30) && o.ReloadInterval > TimeSpan.Zero,
                "Beat options: LeaderLease must be at least 30 ms and ReloadInterval positive.")
            .ValidateOnStart();
        services.TryAddSingleton<ScheduleChanges>();
        services.TryAddSingleton<ScheduleManager>();
        services.TryAddSingleton<IScheduleManager>(sp => sp.GetRequiredService<ScheduleManager>());
        services.TryAddSingleton<BeatScheduler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BeatHost>());
    }

    /// <summary>The registry of code schedules held by <paramref name="services"/>, added when missing.</summary>
    public static ScheduleRegistry RegistryOf(IServiceCollection services)
    {
        if (services.FirstOrDefault(d => d.ServiceType == typeof(ScheduleRegistry))?.ImplementationInstance is ScheduleRegistry registry) return registry;
        registry = new ScheduleRegistry();
        services.AddSingleton(registry);
        return registry;
    }
}
