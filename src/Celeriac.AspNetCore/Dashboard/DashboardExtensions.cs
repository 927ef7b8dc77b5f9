using System.Diagnostics.CodeAnalysis;
using Celeriac.AspNetCore.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Celeriac;

/// <summary>Adds the Celeriac operations dashboard (docs/operations.md, "Dashboard").</summary>
public static class DashboardServiceCollectionExtensions
{
    /// <summary>
    /// Adds what <c>MapCeleriacDashboard</c> needs (after <c>AddCeleriac</c>): WebSocket channels, antiforgery, and
    /// this process's one dashboard sampler (a hosted service that reads the store once a second only while a
    /// dashboard page is open here). Calling it again is harmless.
    /// </summary>
    public static IServiceCollection AddCeleriacDashboard(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddCeleriacChannels();
        services.AddAntiforgery();
        services.TryAddSingleton(TimeProvider.System);
        if (!services.Any(d => d.ServiceType == typeof(DashboardSampler)))
        {
            services.AddSingleton<DashboardHistory>();
            services.AddSingleton<DashboardSampler>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DashboardSampler>());
            // The history listens from the start, so the chart has the hour before the page was opened.
            services.AddSingleton<IHostedService, DashboardHistoryStarter>();
        }
        return services;
    }

    private sealed class DashboardHistoryStarter(DashboardHistory history) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(history);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>Maps the Celeriac operations dashboard.</summary>
public static class DashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the dashboard under <paramref name="prefix"/>: the page at <c>{prefix}/</c>, its JSON API at
    /// <c>{prefix}/api/…</c> (actions are POSTs that need the antiforgery token from <c>GET {prefix}/api/antiforgery</c>
    /// in its header) and live updates at <c>{prefix}/ws</c>. Returns the route group: add
    /// <c>.RequireAuthorization("ops")</c>. Without an authorization requirement it answers only loopback requests
    /// (403 otherwise) and says so on the page.
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="prefix">Where to mount it. Default <c>/celeriac</c>.</param>
    /// <param name="configure">Changes this dashboard's <see cref="DashboardOptions"/>.</param>
    /// <exception cref="InvalidOperationException"><c>AddCeleriacDashboard</c> (or <c>AddCeleriac</c>) was not called.</exception>
    public static RouteGroupBuilder MapCeleriacDashboard(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string prefix = "/celeriac", Action<DashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        prefix = "/" + prefix.Trim().Trim('/');
        if (prefix.Length > 1 && prefix.Contains("//", StringComparison.Ordinal)) throw new ArgumentException($"'{prefix}' is not a valid path prefix.", nameof(prefix));
        var services = endpoints.ServiceProvider;
        if (services.GetService<DashboardSampler>() is null || services.GetService<IChannelLayer>() is null)
            throw new InvalidOperationException("Call services.AddCeleriac(...) and services.AddCeleriacDashboard() before MapCeleriacDashboard.");
        var options = new DashboardOptions();
        configure?.Invoke(options);
        var group = endpoints.MapGroup(prefix == "/" ? "" : prefix);
        DashboardEndpoints.Map(group, prefix == "/" ? "" : prefix, options, services);
        return group;
    }
}
