using Microsoft.AspNetCore.Antiforgery;

namespace CleanEnergy.Web;

/// <summary>
/// Every request that can change something (any method but GET, HEAD, OPTIONS and TRACE) to an endpoint of this app
/// must carry a valid antiforgery token: the form field (<c>__RequestVerificationToken</c>) or the
/// <see cref="HeaderName"/> header, which the pages' scripts send (<c>site.js</c> reads it from the page). ASP.NET
/// Core's <c>UseAntiforgery</c> only records its verdict, and only an endpoint that binds a form refuses on it; this
/// middleware refuses for all of them (400), so no endpoint can forget. An endpoint opts out with
/// <c>DisableAntiforgery()</c>, which none here does.
/// </summary>
internal static class AntiforgeryCheck
{
    /// <summary>The header the page scripts send the request token in.</summary>
    public const string HeaderName = "X-CSRF-TOKEN";

    public static IApplicationBuilder UseAntiforgeryOnEveryChange(this IApplicationBuilder app) =>
        app.UseAntiforgery().Use(async (context, next) =>
        {
            if (NeedsToken(context) && !await IsValidAsync(context))
            {
                await RefuseAsync(context);
                return;
            }
            await next(context);
        });

    private static bool NeedsToken(HttpContext context)
    {
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method)) return false;
        return context.GetEndpoint() is { } endpoint && endpoint.Metadata.GetMetadata<IAntiforgeryMetadata>() is not { RequiresValidation: false };
    }

    private static async Task<bool> IsValidAsync(HttpContext context)
    {
        // UseAntiforgery has already checked the endpoints that bind a form; do not read the body twice.
        if (context.Features.Get<IAntiforgeryValidationFeature>() is { } checkedAlready) return checkedAlready.IsValid;
        try
        {
            return await context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return false;   // a form that cannot be read carries no token
        }
    }

    private static Task RefuseAsync(HttpContext context)
    {
        const string message = "This request carries no valid antiforgery token: reload the page and try again.";
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.Headers.CacheControl = "no-store";
        return context.Request.Path.StartsWithSegments("/api")
            ? context.Response.WriteAsJsonAsync(new { error = message }, context.RequestAborted)
            : context.Response.WriteAsync(message, context.RequestAborted);
    }
}
