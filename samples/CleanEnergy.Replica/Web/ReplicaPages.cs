using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using CleanEnergy.Replica.Users;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;

namespace CleanEnergy.Replica.Web;

/// <summary>
/// The replica's pages and JSON API: <c>/login</c>, <c>/logout</c>, <c>/me</c> (the logged-in user's replicated
/// profile, live), <c>/api/me</c> (its initial state) and <c>/api/users</c> (who is replicated here).
/// </summary>
internal static class ReplicaPages
{
    public static IEndpointRouteBuilder MapReplicaPages(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Redirect("/me"));

        app.MapGet("/login", async (HttpContext http, UserReplication users, IAntiforgery antiforgery, string? returnUrl, CancellationToken ct) =>
            Html(LoginPage(antiforgery.GetAndStoreTokens(http), LocalOr(returnUrl, "/me"), error: null, await users.ListAsync(ct))));

        app.MapPost("/login", async ([FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl,
            HttpContext http, UserReplication users, IAntiforgery antiforgery, CancellationToken ct) =>
        {
            var user = string.IsNullOrWhiteSpace(userName) ? null : await users.FindByNameAsync(userName.Trim(), ct);
            if (user is null || !ReplicaAuth.IsDemoPassword(password))
            {
                var error = user is null && !string.IsNullOrWhiteSpace(userName)
                    ? $"No user '{userName.Trim()}' is replicated here (yet)."
                    : "Wrong user name or password.";
                return Html(LoginPage(antiforgery.GetAndStoreTokens(http), LocalOr(returnUrl, "/me"), error, await users.ListAsync(ct)), StatusCodes.Status401Unauthorized);
            }
            await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, ReplicaAuth.PrincipalFor(user.Id, user.UserName));
            return Results.Redirect(LocalOr(returnUrl, "/me"));
        });

        app.MapPost("/logout", async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/login");
        });

        app.MapGet("/me", (HttpContext http, IAntiforgery antiforgery) =>
            Html(ProfilePage(ReplicaAuth.UserId(http.User)!.Value, http.User.Identity?.Name ?? "", antiforgery.GetAndStoreTokens(http))))
            .RequireAuthorization();

        // The profile page's initial state (fetched in celeriac.js onOpen, again after each reconnect).
        app.MapGet("/api/me", async (ClaimsPrincipal principal, UserReplication users, CancellationToken ct) =>
            await users.FindAsync(ReplicaAuth.UserId(principal)!.Value, ct) is { } user ? Results.Ok(Profile(user)) : Results.NotFound())
            .RequireAuthorization();

        // Who is replicated here (no emails): for the login page, curl and tests.
        app.MapGet("/api/users", async (UserReplication users, CancellationToken ct) =>
            Results.Ok((await users.ListAsync(ct)).Select(u => new { id = u.Id, userName = u.UserName, displayName = u.DisplayName, version = u.Version, updatedAt = u.UpdatedAt })));
        return app;
    }

    private static object Profile(Data.ReplicaUser u) => new
    {
        userId = u.Id, userName = u.UserName, displayName = u.DisplayName, email = u.Email, version = u.Version,
        updatedAt = new DateTimeOffset(u.UpdatedAt, TimeSpan.Zero), replicatedAt = new DateTimeOffset(u.ReplicatedAt, TimeSpan.Zero),
    };

    private static string LocalOr(string? url, string fallback) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : fallback;

    private static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        Results.Content(html, "text/html; charset=utf-8", statusCode: status);

    private static string E(string? value) => HtmlEncoder.Default.Encode(value ?? "");

    private const string Style = """
        <style>
          body { font-family: system-ui, sans-serif; margin: 0; color: #1d2b1f; background: #f4f7f2; }
          header { display: flex; align-items: center; gap: 1rem; padding: .75rem 1.5rem; background: #24633a; color: #fff; }
          header .title { font-weight: 600; flex: 1; }
          header form { margin: 0; }
          main { max-width: 40rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: .5rem; box-shadow: 0 1px 3px #0002; }
          dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1.5rem; }
          dt { color: #5b6b5e; }
          dd { margin: 0; }
          .status { font-size: .85rem; padding: .1rem .5rem; border-radius: 1rem; background: #ffffff33; }
          .note { color: #5b6b5e; font-size: .9rem; }
          .error { color: #a4262c; }
          .flash { animation: flash 1.2s ease-out; }
          @keyframes flash { from { background: #fff3a0; } to { background: transparent; } }
          label { display: block; margin: .75rem 0 .25rem; }
          input { font: inherit; padding: .35rem .5rem; width: 16rem; }
          button { font: inherit; padding: .35rem 1rem; margin-top: 1rem; }
          header button { margin: 0; }
        </style>
        """;

    private static string LoginPage(AntiforgeryTokenSet tokens, string returnUrl, string? error, IReadOnlyList<Data.ReplicaUser> users)
    {
        var names = users.Count == 0
            ? "No users are replicated yet: start the replica before the master on a fresh store, or edit a user on the master."
            : "Replicated here: " + string.Join(", ", users.Select(u => E(u.UserName))) + ".";
        return $"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>Log in · CleanEnergy replica</title><link rel="icon" href="data:,">{Style}</head>
            <body>
              <header><span class="title">CleanEnergy replica</span></header>
              <main>
                <h1>Log in</h1>
                {(error is null ? "" : $"<p class=\"error\" id=\"error\">{E(error)}</p>")}
                <form method="post" action="/login">
                  <input type="hidden" name="{E(tokens.FormFieldName)}" value="{E(tokens.RequestToken)}">
                  <input type="hidden" name="returnUrl" value="{E(returnUrl)}">
                  <label for="userName">User name</label>
                  <input id="userName" name="userName" autocomplete="username" autofocus required>
                  <label for="password">Password</label>
                  <input id="password" name="password" type="password" autocomplete="current-password" required>
                  <div><button type="submit" id="login">Log in</button></div>
                </form>
                <p class="note">The replica does not replicate password hashes (only user name, display name and email are
                replicated, by design), so for the demo every replicated user logs in here with the password
                <code>{ReplicaAuth.DemoPassword}</code>.</p>
                <p class="note" id="replicated">{names}</p>
              </main>
            </body>
            </html>
            """;
    }

    private static string ProfilePage(int userId, string userName, AntiforgeryTokenSet tokens)
    {
        var group = ProfileGroups.For(userId);
        return $$"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>{{E(userName)}} · CleanEnergy replica</title><link rel="icon" href="data:,">{{Style}}</head>
            <body data-user-id="{{userId.ToString(CultureInfo.InvariantCulture)}}" data-group="{{E(group)}}">
              <header>
                <span class="title">CleanEnergy replica</span>
                <span class="status" id="status">connecting</span>
                <form method="post" action="/logout">
                  <input type="hidden" name="{{E(tokens.FormFieldName)}}" value="{{E(tokens.RequestToken)}}">
                  <button type="submit">Log out</button>
                </form>
              </header>
              <main>
                <h1 id="display-name">…</h1>
                <dl>
                  <dt>User name</dt><dd id="user-name"></dd>
                  <dt>Email</dt><dd id="email"></dd>
                  <dt>Version</dt><dd id="version"></dd>
                  <dt>Changed on the master</dt><dd id="updated-at"></dd>
                </dl>
                <p class="note">This page is a replica's view: the master app publishes <code>users.changed</code>, this
                app stores it in its own database and pushes it to your personal group <code>{{E(group)}}</code>, so an
                edit on the master shows here at once.</p>
                <p class="error" id="notice" hidden></p>
                <h2>Live changes</h2>
                <ol id="changes"></ol>
              </main>
              <script src="/_celeriac/celeriac.js"></script>
              <script>
                "use strict";
                const group = document.body.dataset.group;
                const $ = (id) => document.getElementById(id);
                let shownVersion = 0;
                window.profile = { refused: [], changes: [] };

                function notice(text) { $("notice").textContent = text; $("notice").hidden = false; }

                // Shows a profile unless a newer one is shown already (the state fetched in onOpen and the pushed changes
                // may arrive in either order).
                function render(p) {
                  if (p.version < shownVersion) return;
                  const renamed = shownVersion > 0 && $("display-name").textContent !== p.displayName;
                  shownVersion = p.version;
                  $("display-name").textContent = p.displayName;
                  $("user-name").textContent = p.userName;
                  $("email").textContent = p.email;
                  $("version").textContent = String(p.version);
                  $("updated-at").textContent = new Date(p.updatedAt).toLocaleString();
                  document.title = p.displayName + " · CleanEnergy replica";
                  if (renamed) { $("display-name").classList.remove("flash"); void $("display-name").offsetWidth; $("display-name").classList.add("flash"); }
                }

                window.socket = new Celeriac.Socket("/ws/profile", {
                  groups: [group],
                  onOpen: async () => {
                    const response = await fetch("/api/me", { headers: { accept: "application/json" } });
                    if (response.status === 401) { location.href = "/login?returnUrl=/me"; return; }
                    if (response.status === 404) { notice("This account was deleted on the master."); return; }
                    render(await response.json());
                  },
                  onMessage: (message, meta) => {
                    if (!meta || message.type !== "user.changed") return;
                    profile.changes.push(message);
                    const item = document.createElement("li");
                    item.textContent = message.op === "delete"
                      ? `version ${message.version}: deleted`
                      : `version ${message.version}: ${message.displayName} <${message.email}>`;
                    $("changes").prepend(item);
                    if (message.op === "delete") {
                      if (message.version >= shownVersion) { shownVersion = message.version; notice("This account was deleted on the master."); }
                    } else {
                      render(message);
                    }
                  },
                  onRefused: (refusedGroup, reason) => {
                    profile.refused.push(refusedGroup);
                    notice(`Not allowed to join ${refusedGroup}: ${reason || "refused"}`);
                  },
                  onStatus: (status) => { $("status").textContent = status; },
                });
              </script>
            </body>
            </html>
            """;
    }
}
