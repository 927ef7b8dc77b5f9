using Celeriac;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Web;

/// <summary>
/// The web UI: cookie login, the pages (dashboard, chat rooms, users), their JSON endpoints and the WebSocket
/// consumers. <c>AddEnergyWeb</c> registers the services, <c>MapEnergyWeb</c> the middleware and endpoints.
/// <list type="table">
/// <item><term><c>/login</c>, <c>/logout</c></term><description><see cref="Accounts"/></description></item>
/// <item><term><c>/</c></term><description>the dashboard; socket <c>/ws/dashboard</c> (<see cref="DashboardConsumer"/>)</description></item>
/// <item><term><c>/chat/{room}</c></term><description>a chat room; socket <c>/ws/chat/{room}</c> (<see cref="ChatConsumer"/>)</description></item>
/// <item><term><c>/users</c></term><description>user management over <c>/api/users</c> (<see cref="UiApi"/>)</description></item>
/// <item><term><c>/celeriac</c></term><description>Celeriac's operations dashboard, for the <c>ops</c> role (<see cref="EnergyClaims.OpsRole"/>)</description></item>
/// <item><term><c>/health/live</c>, <c>/health/ready</c></term><description>health checks, open (<see cref="Health"/>)</description></item>
/// </list>
/// Everything except the login page, the health checks and the static files needs a login; every request that changes something needs an
/// antiforgery token (<see cref="AntiforgeryCheck"/>), and logins are throttled (<see cref="LoginThrottle"/>).
/// </summary>
internal static class EnergyWeb
{
    /// <summary>A file every copy of this app's web root has (to recognise it).</summary>
    private const string WebRootMarker = "js/dashboard.js";

    public static WebApplicationBuilder AddEnergyWeb(this WebApplicationBuilder builder)
    {
        UseOwnWebRoot(builder.Environment);
        var services = builder.Services;
        services.AddCeleriacChannels();
        services.AddCeleriacDashboard();
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(Accounts.ConfigureCookie);
        services.AddAuthorization(o => o.AddPolicy(EnergyClaims.OpsRole, p => p.RequireRole(EnergyClaims.OpsRole)));
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "cleanenergy.antiforgery";
            o.HeaderName = AntiforgeryCheck.HeaderName;
        });
        services.AddLoginThrottle();
        services.AddEnergyHealth();
        // The keys that protect the login cookie live with the data, so every process started on this data directory
        // (several `web` processes on one machine, a restart) accepts the same cookies. Many machines need a shared key
        // ring (a shared directory, Redis, a database): see ASP.NET Core's data-protection docs.
        var keys = Path.Combine(EnergyOptions.DataDirectoryOf(builder.Configuration, builder.Environment.ContentRootPath), "keys");
        services.AddDataProtection().SetApplicationName("CleanEnergy").PersistKeysToFileSystem(new DirectoryInfo(keys));
        return builder;
    }

    public static WebApplication MapEnergyWeb(this WebApplication app)
    {
        app.UseStaticFiles();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgeryOnEveryChange();                          // 400 for a POST, PUT, DELETE, … without a valid token
        app.UseLoginThrottle();                                     // 429 for too many logins per user name or address

        app.MapAccounts();
        app.MapEnergyHealth();                                      // /health/live, /health/ready (open)
        app.MapCeleriacClient();                                    // /_celeriac/celeriac.js
        app.MapEnergyUiApi();                                       // /api/me, /api/time, /api/grid/history, /api/alerts, /api/users

        app.MapGet("/", (HttpContext http, IAntiforgery antiforgery, IOptions<EnergyOptions> options) =>
            Pages.Dashboard(http, antiforgery, options.Value.CleanThreshold)).RequireAuthorization();
        app.MapGet("/chat", () => Results.Redirect($"/chat/{ChatRooms.Default}")).RequireAuthorization();
        app.MapGet("/chat/{room}", (string room, HttpContext http, IAntiforgery antiforgery) =>
            ChatRooms.IsValid(room) ? Pages.Chat(http, antiforgery, room)
            : ChatRooms.IsValid(room.ToLowerInvariant()) ? Results.Redirect($"/chat/{room.ToLowerInvariant()}")
            : Results.Text("No such room: a room name has 1 to 64 lower-case letters, digits, '-' and '_'.", statusCode: StatusCodes.Status404NotFound)).RequireAuthorization();
        app.MapGet("/users", (HttpContext http, IAntiforgery antiforgery) => Pages.Users(http, antiforgery)).RequireAuthorization();

        app.MapConsumer<DashboardConsumer>("/ws/dashboard").RequireAuthorization();
        // Celeriac's operations dashboard: workers, queues, tasks, dead letters, schedules, for the ops role only.
        app.MapCeleriacDashboard("/celeriac", o => o.Title = "CleanEnergy operations").RequireAuthorization(EnergyClaims.OpsRole);
        app.MapConsumer<ChatConsumer>("/ws/chat/{room}").RequireAuthorization();
        return app;
    }

    /// <summary>
    /// <c>dotnet run</c> starts the app in its project directory, where <c>wwwroot</c> is. Started from anywhere else
    /// (<c>dotnet bin/…/CleanEnergy.dll</c> from the repository root), the content root has no <c>wwwroot</c>: then the
    /// web root is the one next to the build output (a published app) or in the project directory above it.
    /// </summary>
    private static void UseOwnWebRoot(IWebHostEnvironment environment)
    {
        if (IsOurs(environment.WebRootPath)) return;
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "wwwroot");
            if (!IsOurs(candidate)) continue;
            environment.WebRootPath = candidate;
            environment.WebRootFileProvider = new PhysicalFileProvider(candidate);
            return;
        }
    }

    private static bool IsOurs(string? webRoot) => webRoot is { Length: > 0 } && File.Exists(Path.Combine(webRoot, WebRootMarker));
}
