using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Web;

/// <summary>
/// Throttles <c>POST /login</c> with ASP.NET Core's rate limiter: a fixed window per user name and one per client
/// address (<c>Energy:Login</c>), chained, so that neither guessing one user's password nor trying many users from one
/// address gets far. Every attempt counts, right or wrong. A refused attempt answers 429 with <c>Retry-After</c> (whole
/// seconds to the end of the window) and the login page saying so. The counts live in this process: several web
/// processes count alone, and behind a proxy the client address is the proxy's unless forwarded headers are set up.
/// </summary>
internal static class LoginThrottle
{
    /// <summary>Marks the endpoint that is throttled (the login form's POST).</summary>
    public sealed class Metadata;

    public static IServiceCollection AddLoginThrottle(this IServiceCollection services)
    {
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<EnergyOptions>>((o, energy) =>
        {
            var login = energy.Value.Login;
            o.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                Partitioned(context => "user:" + UserNameOf(context), login.PermitsPerUserName, login.Window),
                Partitioned(context => "address:" + context.Connection.RemoteIpAddress, login.PermitsPerAddress, login.Window));
            o.OnRejected = RejectAsync;
        });
        return services;
    }

    private static PartitionedRateLimiter<HttpContext> Partitioned(Func<HttpContext, string> key, int permits, TimeSpan window) =>
        PartitionedRateLimiter.Create<HttpContext, string>(context =>
            !IsThrottled(context)
                ? RateLimitPartition.GetNoLimiter("")
                : RateLimitPartition.GetFixedWindowLimiter(key(context), _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = permits,
                    Window = window,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));

    /// <summary>
    /// Reads the login form before the rate limiter runs (its partitions are chosen synchronously), so that the user
    /// name is there to partition on. A form that cannot be read is left to the endpoint, which refuses it.
    /// </summary>
    public static IApplicationBuilder UseLoginThrottle(this IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            if (IsThrottled(context) && context.Request.HasFormContentType)
            {
                try
                {
                    await context.Request.ReadFormAsync(context.RequestAborted);
                }
                catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
                {
                    // Partitioned by address only; the endpoint's form binding answers 400.
                }
            }
            await next(context);
        });
        return app.UseRateLimiter();
    }

    private static bool IsThrottled(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<Metadata>() is not null;

    /// <summary>The user name as the login compares it (trimmed, case-insensitive), or empty without a readable form.</summary>
    private static string UserNameOf(HttpContext context) =>
        context.Features.Get<IFormFeature>()?.Form?["userName"].ToString().Trim().ToUpperInvariant() ?? "";

    private static async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var http = rejected.HttpContext;
        var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
            ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
            : (int)Math.Ceiling(http.RequestServices.GetRequiredService<IOptions<EnergyOptions>>().Value.Login.Window.TotalSeconds);
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var form = http.Features.Get<IFormFeature>()?.Form;
        var page = Pages.Login(http, http.RequestServices.GetRequiredService<IAntiforgery>(),
            Accounts.SafeReturnUrl(form?["returnUrl"].ToString()), form?["userName"].ToString().Trim() ?? "",
            $"Too many login attempts. Try again in {seconds} s.", StatusCodes.Status429TooManyRequests);
        await page.ExecuteAsync(http);
    }
}
