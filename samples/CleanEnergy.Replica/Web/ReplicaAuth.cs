using System.Globalization;
using System.Security.Claims;
using CleanEnergy.Replica.Users;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace CleanEnergy.Replica.Web;

/// <summary>
/// Cookie login on the replica.
/// <para>
/// The replica does not replicate password hashes, by design: the master publishes only the fields that matter to
/// other apps (user name, display name, email), and a password hash is not one of them. So for the demo the replica
/// accepts any replicated (not deleted) user name with the fixed password <see cref="DemoPassword"/>, which is also
/// the master's seeded password of alice and bob. A real replica would delegate login to the master (OpenID Connect,
/// a shared cookie) instead.
/// </para>
/// The cookie carries the master's user id (<see cref="ClaimTypes.NameIdentifier"/>) and the user name at login. Every
/// request checks that the user is still replicated and not deleted; when not, the cookie is dropped.
/// </summary>
internal static class ReplicaAuth
{
    public const string DemoPassword = "demo";

    /// <summary>Its own name: the master's pages on another port of the same host would otherwise share (and clobber) the cookie.</summary>
    public const string CookieName = "CleanEnergy.Replica.Auth";

    public static IServiceCollection AddReplicaAuth(this IServiceCollection services)
    {
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.LoginPath = "/login";
            o.LogoutPath = "/logout";
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.Events = new CookieAuthenticationEvents
            {
                // Pages redirect to the login form; the JSON API and the WebSocket endpoint answer 401/403.
                OnRedirectToLogin = context => Deny(context, StatusCodes.Status401Unauthorized),
                OnRedirectToAccessDenied = context => Deny(context, StatusCodes.Status403Forbidden),
                OnValidatePrincipal = async context =>
                {
                    var id = UserId(context.Principal);
                    var users = context.HttpContext.RequestServices.GetRequiredService<UserReplication>();
                    if (id is null || await users.FindAsync(id.Value, context.HttpContext.RequestAborted) is null)
                    {
                        context.RejectPrincipal();
                        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                    }
                },
            };
        });
        services.AddAuthorization();
        return services;
    }

    /// <summary>The master's user id of the logged-in user, or null.</summary>
    public static int? UserId(ClaimsPrincipal? user) =>
        user?.Identity?.IsAuthenticated == true
        && int.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id : null;

    /// <summary>The principal stored in the cookie for <paramref name="user"/>.</summary>
    public static ClaimsPrincipal PrincipalFor(int userId, string userName) =>
        new(new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, userId.ToString(CultureInfo.InvariantCulture)),
                new Claim(ClaimTypes.Name, userName),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme));

    /// <summary>Whether <paramref name="password"/> is the demo password (see the class summary).</summary>
    public static bool IsDemoPassword(string? password) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(password ?? ""), System.Text.Encoding.UTF8.GetBytes(DemoPassword));

    private static Task Deny(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/api") || path.StartsWithSegments("/ws")) context.Response.StatusCode = status;
        else context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }
}
