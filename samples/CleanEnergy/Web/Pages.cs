using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace CleanEnergy.Web;

/// <summary>
/// The HTML pages: a small layout and four bodies (login, dashboard, chat, users). Plain HTML from C# strings, no view
/// engine; the behaviour is in <c>wwwroot/js</c> (no build step) and the look in <c>wwwroot/css/site.css</c>. Every
/// value put in the HTML is encoded; the forms carry the antiforgery token.
/// </summary>
internal static class Pages
{
    private static string E(string? value) => HtmlEncoder.Default.Encode(value ?? "");

    public static IResult Login(HttpContext http, IAntiforgery antiforgery, string returnUrl, string userName, string? error, int status = StatusCodes.Status200OK)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var message = error is null ? "" : $"""<p class="form-error" role="alert">{E(error)}</p>""";
        return Html(status, $$"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>Log in · CleanEnergy</title>
              <link rel="icon" href="/favicon.svg">
              <link rel="stylesheet" href="/css/site.css">
            </head>
            <body class="login-page">
              <main class="login-card card">
                <div class="brand brand-large"><span class="logo" aria-hidden="true"></span>CleanEnergy</div>
                <p class="muted">Devices on when the grid is clean, off when it is dirty.</p>
                {{message}}
                <form method="post" action="/login" id="login-form">
                  <input type="hidden" name="{{E(tokens.FormFieldName)}}" value="{{E(tokens.RequestToken)}}">
                  <input type="hidden" name="returnUrl" value="{{E(returnUrl)}}">
                  <label>User name <input name="userName" id="userName" autocomplete="username" value="{{E(userName)}}" required autofocus></label>
                  <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
                  <button type="submit" class="primary">Log in</button>
                </form>
                <p class="hint">Demo: <code>alice</code> / <code>demo</code> or <code>bob</code> / <code>demo</code></p>
              </main>
            </body>
            </html>
            """);
    }

    public static IResult Dashboard(HttpContext http, IAntiforgery antiforgery, double threshold)
    {
        var t = threshold.ToString("0.##", CultureInfo.InvariantCulture);
        return Layout(http, antiforgery, "Dashboard", "dashboard", $"""data-threshold="{t}" """, $$"""
            <section class="stats">
              <div class="card stat" id="stat-grid">
                <div class="label">Grid carbon intensity</div>
                <div class="value"><span id="grid-value">–</span><small>gCO2/kWh</small></div>
                <div class="sub"><span id="grid-level" class="pill">waiting</span> threshold {{t}}</div>
              </div>
              <div class="card stat">
                <div class="label">Devices draw</div>
                <div class="value"><span id="power-value">–</span><small>kW</small></div>
                <div class="sub" id="power-sub">total of reachable devices</div>
              </div>
              <div class="card stat">
                <div class="label">Devices on</div>
                <div class="value"><span id="devices-on">–</span><small id="devices-total"></small></div>
                <div class="sub" id="devices-sub">switched with the grid</div>
              </div>
              <div class="card stat">
                <div class="label">Server time</div>
                <div class="value mono" id="clock">–</div>
                <div class="sub" id="clock-date">pushed every 0.5 s</div>
              </div>
            </section>
            <section class="card">
              <div class="card-head">
                <h2>Grid intensity and total power</h2>
                <span class="hint">last 10 minutes · devices switch on below {{t}} gCO2/kWh</span>
              </div>
              <div id="chart" class="chart" data-points="0"></div>
            </section>
            <section class="columns">
              <div class="card">
                <div class="card-head"><h2>Devices</h2><span class="hint" id="devices-hint"></span></div>
                <table class="devices" id="devices">
                  <thead><tr><th>Device</th><th>State</th><th class="num">Power</th><th class="num">Last reading</th></tr></thead>
                  <tbody><tr class="empty"><td colspan="4">Loading…</td></tr></tbody>
                </table>
              </div>
              <div class="card">
                <div class="card-head"><h2>Alerts</h2><span class="hint">newest first · last 20</span></div>
                <ol class="alerts" id="alerts"><li class="empty">No alerts yet. Try <code>send --on alerts.ops "hello"</code>.</li></ol>
              </div>
            </section>
            """, """
            <script src="/lib/uplot/uPlot.iife.min.js"></script>
            <script src="/js/dashboard.js"></script>
            """, """<link rel="stylesheet" href="/lib/uplot/uPlot.min.css">""");
    }

    public static IResult Chat(HttpContext http, IAntiforgery antiforgery, string room) =>
        Layout(http, antiforgery, $"#{room}", "chat", $"""data-room="{E(room)}" """, $$"""
            <section class="card chat">
              <div class="card-head">
                <h2>#<span id="room">{{E(room)}}</span></h2>
                <form id="room-form" class="room-form">
                  <input id="room-input" placeholder="another room" pattern="[a-z0-9_\-]{1,64}" maxlength="64" title="lower-case letters, digits, - and _" aria-label="Room">
                  <button type="submit">Go</button>
                </form>
              </div>
              <ol class="messages" id="messages" aria-live="polite"><li class="empty">No messages yet. Say hello.</li></ol>
              <form id="composer" class="composer">
                <input id="text" autocomplete="off" maxlength="{{ChatRooms.MaxTextLength}}" placeholder="Message #{{E(room)}}" aria-label="Message" required>
                <button type="submit" class="primary">Send</button>
              </form>
              <p class="hint">Everyone in this room sees your messages, signed with your login's name. Recent messages are kept for an hour.</p>
            </section>
            """, """<script src="/js/chat.js"></script>""");

    public static IResult Users(HttpContext http, IAntiforgery antiforgery) =>
        Layout(http, antiforgery, "Users", "users", "", """
            <section class="card">
              <div class="card-head"><h2>Users</h2><span class="hint">this app is the master of user accounts; changes are published as <code>users.changed</code></span></div>
              <p class="notice">Demo: any logged-in user may create, edit and delete users.</p>
              <p class="form-error" id="users-error" role="alert" hidden></p>
              <table class="users" id="users">
                <thead><tr><th>User name</th><th>Display name</th><th>Email</th><th>Last login</th><th class="num">Version</th><th></th></tr></thead>
                <tbody><tr class="empty"><td colspan="6">Loading…</td></tr></tbody>
              </table>
            </section>
            <section class="card">
              <div class="card-head"><h2>New user</h2></div>
              <form id="create-user" class="inline-form">
                <label>User name <input name="userName" required maxlength="100" autocomplete="off"></label>
                <label>Display name <input name="displayName" required maxlength="200" autocomplete="off"></label>
                <label>Email <input name="email" type="email" maxlength="200" autocomplete="off"></label>
                <label>Password <input name="password" type="password" required autocomplete="new-password"></label>
                <button type="submit" class="primary">Create</button>
              </form>
            </section>
            """, """<script src="/js/users.js"></script>""");

    private static IResult Layout(HttpContext http, IAntiforgery antiforgery, string title, string page, string bodyAttributes, string main, string scripts, string head = "")
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        string Nav(string key, string href, string text) =>
            $"""<a href="{href}"{(key == page ? " class=\"active\" aria-current=\"page\"" : "")}>{text}</a>""";
        return Html(StatusCodes.Status200OK, $$"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>{{E(title)}} · CleanEnergy</title>
              <link rel="icon" href="/favicon.svg">
              <link rel="stylesheet" href="/css/site.css">
              {{head}}
            </head>
            <body data-page="{{page}}" data-user="{{E(EnergyClaims.UserName(http.User))}}" {{bodyAttributes}}>
              <header class="topbar">
                <a class="brand" href="/"><span class="logo" aria-hidden="true"></span>CleanEnergy</a>
                <nav>{{Nav("dashboard", "/", "Dashboard")}}{{Nav("chat", "/chat/" + ChatRooms.Default, "Chat")}}{{Nav("users", "/users", "Users")}}</nav>
                <div class="who">
                  {{(page == "users" ? "" : LiveIndicator)}}
                  <span class="user" id="me">{{E(EnergyClaims.DisplayName(http.User))}}</span>
                  <form method="post" action="/logout" id="logout-form">
                    <input type="hidden" name="{{E(tokens.FormFieldName)}}" value="{{E(tokens.RequestToken)}}">
                    <button type="submit" class="link">Log out</button>
                  </form>
                </div>
              </header>
              <main class="page-{{page}}">
            {{main}}
              </main>
              <script src="/_celeriac/celeriac.js"></script>
              <script src="/js/site.js"></script>
            {{scripts}}
            </body>
            </html>
            """);
    }

    private const string LiveIndicator =
        """<span class="live" id="live" data-status="connecting" title="live updates"><span class="dot"></span><span id="live-text">connecting</span></span>""";

    private static IResult Html(int status, string html) => new HtmlResult(status, html);

    /// <summary>An HTML answer that is never cached (it holds an antiforgery token and the user's name).</summary>
    private sealed class HtmlResult(int status, string html) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = "text/html; charset=utf-8";
            httpContext.Response.Headers.CacheControl = "no-store";
            return httpContext.Response.WriteAsync(html, httpContext.RequestAborted);
        }
    }
}
