using CleanEnergy.Users;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Web;

/// <summary>
/// Cookie login with the app's own users (<see cref="UserService"/>: ASP.NET Core Identity's password hasher, no
/// Identity stores): <c>GET/POST /login</c>, <c>POST /logout</c>. A login records <c>LastLoginAt</c>, which is not a
/// replicated field, so it publishes nothing. Every request re-reads the user behind the cookie (one primary-key
/// look-up): a deleted user is logged out at once, and a renamed one gets a fresh cookie with the new names.
/// </summary>
internal static class Accounts
{
    public const string LoginPath = "/login";
    public const string LogoutPath = "/logout";

    public static void ConfigureCookie(CookieAuthenticationOptions o)
    {
        o.LoginPath = LoginPath;
        o.LogoutPath = LogoutPath;
        o.Cookie.Name = "cleanenergy.login";
        o.Cookie.HttpOnly = true;
        o.Cookie.SameSite = SameSiteMode.Lax;
        o.ExpireTimeSpan = TimeSpan.FromDays(7);
        o.SlidingExpiration = true;
        o.Events = new CookieAuthenticationEvents
        {
            // The JSON API and the WebSockets answer 401/403; only pages redirect to the login page.
            OnRedirectToLogin = context => Answer(context, StatusCodes.Status401Unauthorized),
            // A signed-in user without the right (bob on /celeriac) gets 403 everywhere: there is no access-denied page.
            OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            },
            OnValidatePrincipal = ValidateAsync,
        };
    }

    private static Task Answer(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (IsApi(context.Request.Path)) context.Response.StatusCode = status;
        else context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    private static bool IsApi(PathString path) => path.StartsWithSegments("/api") || path.StartsWithSegments("/ws");

    private static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        var id = principal is null ? null : EnergyClaims.UserId(principal);
        var users = context.HttpContext.RequestServices.GetRequiredService<UserService>();
        var user = id is { } userId ? await users.FindAsync(userId, context.HttpContext.RequestAborted) : null;
        if (user is null)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return;
        }
        var isOperator = context.HttpContext.RequestServices.GetRequiredService<IOptions<EnergyOptions>>().Value.IsOperator(user.UserName);
        if (EnergyClaims.UserName(principal!) != user.UserName || EnergyClaims.DisplayName(principal!) != user.DisplayName
            || principal!.IsInRole(EnergyClaims.OpsRole) != isOperator)
        {
            context.ReplacePrincipal(EnergyClaims.Principal(user, isOperator));
            context.ShouldRenew = true;
        }
    }

    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder app)
    {
        app.MapGet(LoginPath, (HttpContext http, IAntiforgery antiforgery, string? returnUrl) =>
            http.User.Identity?.IsAuthenticated == true
                ? Results.LocalRedirect(SafeReturnUrl(returnUrl))
                : Pages.Login(http, antiforgery, SafeReturnUrl(returnUrl), userName: "", error: null));

        // The form carries the antiforgery token (checked before this runs); LoginThrottle counts the attempts.
        app.MapPost(LoginPath, async ([FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl,
            HttpContext http, IAntiforgery antiforgery, UserService users, IOptions<EnergyOptions> options, CancellationToken ct) =>
        {
            var name = userName?.Trim() ?? "";
            var user = name.Length == 0 || string.IsNullOrEmpty(password) ? null : await users.VerifyPasswordAsync(name, password, ct);
            if (user is null)
                return Pages.Login(http, antiforgery, SafeReturnUrl(returnUrl), name, "Wrong user name or password.", StatusCodes.Status401Unauthorized);
            await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, EnergyClaims.Principal(user, options.Value.IsOperator(user.UserName)),
                new AuthenticationProperties { IsPersistent = true });
            await users.RecordLoginAsync(user.Id, ct);
            return Results.LocalRedirect(SafeReturnUrl(returnUrl));
        }).WithMetadata(new LoginThrottle.Metadata());

        app.MapPost(LogoutPath, async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect(LoginPath);
        }).WithMetadata(new RequireAntiforgeryTokenAttribute());
        return app;
    }

    /// <summary>Where to go after the login: a local path (never another site), else the dashboard.</summary>
    internal static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) && !url.StartsWith(LoginPath, StringComparison.OrdinalIgnoreCase)
            ? url
            : "/";
}
