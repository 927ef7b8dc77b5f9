using System.Security.Claims;
using CleanEnergy.Data;
using CleanEnergy.Live;
using CleanEnergy.Users;
using Celeriac;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace CleanEnergy.Web;

/// <summary>A user as the pages see it (never the password hash).</summary>
internal sealed record UserView(int Id, string UserName, string DisplayName, string Email, DateTime? LastLoginAt, DateTime UpdatedAt, long Version)
{
    public static UserView Of(User u) => new(u.Id, u.UserName, u.DisplayName, u.Email, u.LastLoginAt, u.UpdatedAt, u.Version);
}

/// <summary>The body of <c>POST /api/users</c> (all fields) and <c>PUT /api/users/{id}</c> (a null field stays as it is; no password).</summary>
internal sealed record UserForm(string? UserName, string? DisplayName, string? Email, string? Password);

/// <summary>
/// The JSON endpoints behind the pages, login required (401 without the cookie): who is logged in, the server time, the
/// chart's first points, the recent alerts, an antiforgery token for scripts, and user management. The older <c>/api</c>
/// endpoints (<see cref="Api.EnergyApi"/>) can be read without a login.
/// </summary>
internal static class UiApi
{
    /// <summary>The alerts a page shows (newest first).</summary>
    public const int AlertCount = 20;

    public static IEndpointRouteBuilder MapEnergyUiApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireAuthorization();

        api.MapGet("/me", (ClaimsPrincipal user) => new { id = EnergyClaims.UserId(user), userName = EnergyClaims.UserName(user), displayName = EnergyClaims.DisplayName(user) });

        // A request token for scripts outside the pages (the pages have theirs in the HTML): send it in headerName.
        api.MapGet("/antiforgery", (HttpContext http, IAntiforgery antiforgery) =>
        {
            var tokens = antiforgery.GetAndStoreTokens(http);
            http.Response.Headers.CacheControl = "no-store";
            return new { headerName = tokens.HeaderName, token = tokens.RequestToken };
        });

        // The clock's first value, so the page never shows a blank clock before the first tick.
        api.MapGet("/time", (TimeProvider time) => new { now = time.GetUtcNow() });

        // The chart's first points: the grid intensity of the last N minutes with the devices' total power at each point.
        api.MapGet("/grid/history", async (EnergyDb db, TimeProvider time, IOptions<EnergyOptions> options, CancellationToken ct, int minutes = 10) =>
        {
            minutes = Math.Clamp(minutes, 1, 24 * 60);
            var points = await GridHistoryAsync(db, time.GetUtcNow().UtcDateTime.AddMinutes(-minutes), ct);
            return new { threshold = options.Value.CleanThreshold, minutes, points };
        });

        // The recent alerts, newest first, from the `alerts` group's history in the channel layer (what the page would
        // have received; kept as long as Celeriac:Channels:HistoryWindow after the last one).
        api.MapGet("/alerts", async (IChannelLayer channels, CancellationToken ct) =>
        {
            var history = await channels.ReadHistoryAsync(LiveUpdates.AlertsGroup, 0, ct);
            return history.Messages.Reverse().Take(AlertCount).Select(m => m.Message);
        });

        // Users: this app is their master. Any logged-in user may manage users in this demo.
        var users = api.MapGroup("/users");
        users.MapGet("", async (UserService service, CancellationToken ct) => (await service.ListAsync(ct)).Select(UserView.Of));
        users.MapPost("", async (UserForm form, UserService service, CancellationToken ct) =>
        {
            if (string.IsNullOrEmpty(form.Password)) return Error(StatusCodes.Status400BadRequest, "A password is needed.");
            if (form.UserName is { } name && await service.FindByNameAsync(name.Trim(), ct) is not null)
                return Error(StatusCodes.Status409Conflict, $"The user name '{name.Trim()}' is taken.");
            try
            {
                var user = await service.CreateAsync(form.UserName ?? "", form.DisplayName ?? "", form.Email ?? "", form.Password, ct);
                return Results.Created($"/api/users/{user.Id}", UserView.Of(user));
            }
            catch (ArgumentException e)
            {
                return Error(StatusCodes.Status400BadRequest, FirstSentence(e));
            }
            catch (DbUpdateException)
            {
                return Error(StatusCodes.Status409Conflict, $"The user name '{form.UserName?.Trim()}' is taken.");
            }
        });
        users.MapPut("/{id:int}", async (int id, UserForm form, UserService service, CancellationToken ct) =>
        {
            try
            {
                var published = await service.UpdateAsync(id, form.UserName, form.DisplayName, form.Email, ct);
                var user = await service.FindAsync(id, ct);
                return user is null ? Error(StatusCodes.Status404NotFound, $"No user has id {id}.") : Results.Ok(new { user = UserView.Of(user), published });
            }
            catch (KeyNotFoundException)
            {
                return Error(StatusCodes.Status404NotFound, $"No user has id {id}.");
            }
            catch (ArgumentException e)
            {
                return Error(StatusCodes.Status400BadRequest, FirstSentence(e));
            }
            catch (DbUpdateConcurrencyException)
            {
                return Error(StatusCodes.Status409Conflict, "Someone else changed this user meanwhile; reload and try again.");
            }
            catch (DbUpdateException)
            {
                return Error(StatusCodes.Status409Conflict, $"The user name '{form.UserName?.Trim()}' is taken.");
            }
        });
        users.MapDelete("/{id:int}", async (int id, UserService service, CancellationToken ct) =>
            await service.DeleteAsync(id, ct) ? Results.NoContent() : Error(StatusCodes.Status404NotFound, $"No user has id {id}."));
        return app;
    }

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    /// <summary>An ArgumentException's message without the " (Parameter 'x')" suffix.</summary>
    private static string FirstSentence(ArgumentException e) =>
        e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>A grid point with the devices' total power then (W), as the live <c>grid.intensity</c> message has it.</summary>
    internal sealed record GridPoint(DateTime At, double Value, double TotalPowerW);

    /// <summary>
    /// The grid points since <paramref name="since"/>, each with the sum of the newest <c>power</c> reading at or before
    /// it of every device that is reachable now (the rule <c>grid.refresh</c> applies live). One pass over the window's
    /// readings, plus one look-up per device for its reading just before the window.
    /// </summary>
    internal static async Task<List<GridPoint>> GridHistoryAsync(EnergyDb db, DateTime since, CancellationToken ct)
    {
        var grid = await db.Observations.AsNoTracking()
            .Where(o => o.Source == Observation.GridSource && o.Name == GridNames.Intensity && o.Time >= since && o.NumberValue != null)
            .OrderBy(o => o.Time)
            .Select(o => new { o.Time, Value = o.NumberValue!.Value })
            .ToListAsync(ct);
        if (grid.Count == 0) return [];

        var devices = await db.Devices.AsNoTracking().Where(d => d.Reachable).Select(d => d.Id).ToListAsync(ct);
        var current = new Dictionary<int, double>();
        foreach (var id in devices)
        {
            var source = Observation.SourceOf(id);
            var before = await db.Observations.AsNoTracking()
                .Where(o => o.Source == source && o.Name == DeviceNames.Power && o.Time < since)
                .OrderByDescending(o => o.Time).Select(o => o.NumberValue).FirstOrDefaultAsync(ct);
            if (before is { } watts) current[id] = watts;
        }
        var readings = await db.Observations.AsNoTracking()
            .Where(o => o.Name == DeviceNames.Power && o.DeviceId != null && o.Time >= since && o.NumberValue != null)
            .OrderBy(o => o.Time)
            .Select(o => new { DeviceId = o.DeviceId!.Value, o.Time, Value = o.NumberValue!.Value })
            .ToListAsync(ct);

        var reachable = devices.ToHashSet();
        var points = new List<GridPoint>(grid.Count);
        var next = 0;
        foreach (var g in grid)
        {
            for (; next < readings.Count && readings[next].Time <= g.Time; next++)
                if (reachable.Contains(readings[next].DeviceId)) current[readings[next].DeviceId] = readings[next].Value;
            points.Add(new GridPoint(g.Time, g.Value, Math.Round(current.Values.Sum(), 1)));
        }
        return points;
    }
}
