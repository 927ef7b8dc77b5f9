using System.Text.Json;
using Celeriac.Operations;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CleanEnergy.Web;

/// <summary>
/// <c>/health/live</c>: 200 while the process serves requests (no check runs). <c>/health/ready</c>: Celeriac's checks
/// (<see cref="CeleriacHealthCheckExtensions.AddCeleriac"/>: the store answers, this process's worker fetches, no
/// watched queue is stalled), 503 when one is unhealthy, as JSON with each check's status and description. Both are
/// open (a load balancer or orchestrator has no login) and tell no data beyond that.
/// </summary>
internal static class Health
{
    public static IServiceCollection AddEnergyHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCeleriac();
        return services;
    }

    public static WebApplication MapEnergyHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(CeleriacHealthCheckExtensions.ReadyTag),
            ResponseWriter = WriteAsync,
        });
        return app;
    }

    private static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description, ms = Math.Round(e.Value.Duration.TotalMilliseconds, 1) }),
        }, JsonSerializerOptions.Web));
    }
}
