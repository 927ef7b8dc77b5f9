using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CleanEnergy.Data;
using CleanEnergy.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace CleanEnergy.Tests;

/// <summary>
/// The web surface of the app as an attacker meets it, over real Kestrel: antiforgery on every state-changing endpoint,
/// a login for switching devices, and the login throttle.
/// </summary>
public sealed class WebSecurityTests
{
    private static readonly string[] SafeMethods = [HttpMethods.Get, HttpMethods.Head, HttpMethods.Options, HttpMethods.Trace];

    [Fact]
    public async Task Every_state_changing_endpoint_refuses_a_signed_in_request_without_an_antiforgery_token()
    {
        await using var app = await EnergyWebApp.StartAsync();
        using var client = app.Client();
        var token = await EnergyWebApp.LoginAsync(client);

        var changes = (from endpoint in app.Endpoints
                       from method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []
                       where !SafeMethods.Contains(method, StringComparer.OrdinalIgnoreCase)
                       select (method, path: SamplePath(endpoint.RoutePattern))).ToList();
        // The ones this app is known to have, so that a mapping change cannot make the list (and the test) empty.
        Assert.Superset(new HashSet<(string, string)>
        {
            ("POST", "/login"), ("POST", "/logout"), ("POST", "/api/devices/1/power"),
            ("POST", "/api/users"), ("PUT", "/api/users/1"), ("DELETE", "/api/users/1"),
        }, changes.ToHashSet());

        foreach (var (method, path) in changes)
        {
            foreach (var body in Bodies())
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body };
                using var response = await client.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest,
                    $"{method} {path} ({body.Headers.ContentType}) without a token: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                Assert.Contains("antiforgery token", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            // A token of another session is no token either.
            using var foreign = new HttpRequestMessage(new HttpMethod(method), path) { Content = JsonContent.Create(new { }) };
            foreign.Headers.Add(AntiforgeryCheck.HeaderName, "CfDJ8-not-a-token-of-this-session");
            using var refused = await client.SendAsync(foreign);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        // Nothing above took effect: still signed in (the logout was refused), user 1 still there, no user created.
        var users = await client.GetFromJsonAsync<List<JsonElement>>("/api/users");
        Assert.Equal(["alice", "bob"], users!.Select(u => u.GetProperty("userName").GetString()!).Order().ToArray());

        // With the token, the same endpoints work.
        using var created = await SendAsync(client, HttpMethod.Post, "/api/users", token,
            new { userName = "carol", displayName = "Carol", email = "carol@example.com", password = "carol-pass" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var carol = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt32();
        using var renamed = await SendAsync(client, HttpMethod.Put, $"/api/users/{carol}", token, new { displayName = "Carol C." });
        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        using var deleted = await SendAsync(client, HttpMethod.Delete, $"/api/users/{carol}", token);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var switched = await SendAsync(client, HttpMethod.Post, "/api/devices/1/power?on=true", token);
        Assert.Equal(HttpStatusCode.Accepted, switched.StatusCode);

        using var logout = new HttpRequestMessage(HttpMethod.Post, "/logout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }),
        };
        using var loggedOut = await client.SendAsync(logout);
        Assert.Equal(HttpStatusCode.Redirect, loggedOut.StatusCode);
        using var me = await client.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
    }

    [Fact]
    public async Task Switching_a_device_needs_a_login_and_reading_what_the_readme_calls_public_does_not()
    {
        await using var app = await EnergyWebApp.StartAsync();
        using var anonymous = app.Client();

        using var refused = await anonymous.PostAsync("/api/devices/1/power?on=true", null);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        foreach (var path in new[] { "/api/devices", "/api/grid", "/api/interactions", "/api/tasks/0123456789abcdef" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} anonymously: {(int)response.StatusCode}");
        }
        foreach (var path in new[] { "/api/me", "/api/users", "/api/time", "/api/alerts", "/api/grid/history", "/api/antiforgery" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"GET {path} anonymously: {(int)response.StatusCode}");
        }

        // Signed in, a script gets its token from /api/antiforgery and switches; the task is queued under the id returned.
        using var client = app.Client();
        await EnergyWebApp.LoginAsync(client, "bob");
        var tokens = await client.GetFromJsonAsync<JsonElement>("/api/antiforgery");
        Assert.Equal(AntiforgeryCheck.HeaderName, tokens.GetProperty("headerName").GetString());
        using var accepted = await SendAsync(client, HttpMethod.Post, "/api/devices/2/power?on=false", tokens.GetProperty("token").GetString()!);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var taskId = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("taskId").GetString()!;
        Assert.Equal($"/api/tasks/{taskId}", accepted.Headers.Location!.ToString());
        var task = await anonymous.GetFromJsonAsync<JsonElement>($"/api/tasks/{taskId}");
        Assert.Equal(taskId, task.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Logins_are_refused_with_429_per_user_name_and_per_address_within_the_window()
    {
        await using var app = await EnergyWebApp.StartAsync(new Dictionary<string, string?>
        {
            ["Energy:Login:PermitsPerUserName"] = "2",
            ["Energy:Login:PermitsPerAddress"] = "4",
            ["Energy:Login:Window"] = "01:00:00",   // no window ends during this test
        });
        using var client = app.Client();

        // Per user name (trimmed, any case): two attempts, then even the right password is refused.
        await AssertStatusAsync(client, "alice", "wrong-1", HttpStatusCode.Unauthorized);
        await AssertStatusAsync(client, " Alice", "wrong-2", HttpStatusCode.Unauthorized);
        using (var refused = await EnergyWebApp.PostLoginAsync(client, "alice", EnergySetup.DemoPassword))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 3600);
            var page = await refused.Content.ReadAsStringAsync();
            Assert.Contains($"Too many login attempts. Try again in {retryAfter} s.", page, StringComparison.Ordinal);
            Assert.Contains("id=\"login-form\"", page, StringComparison.Ordinal);
        }
        using (var me = await client.GetAsync("/api/me")) Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);

        // Per address: the refused attempt did not count; two more user names use up the address's four attempts, so
        // bob, with one attempt of his two left, is refused too.
        await AssertStatusAsync(client, "bob", "wrong", HttpStatusCode.Unauthorized);
        await AssertStatusAsync(client, "nobody", "wrong", HttpStatusCode.Unauthorized);
        await AssertStatusAsync(client, "bob", EnergySetup.DemoPassword, HttpStatusCode.TooManyRequests);

        // The rest of the app is not throttled.
        using var login = await client.GetAsync("/login");
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task A_refused_user_logs_in_with_the_right_password_once_the_window_has_passed()
    {
        await using var app = await EnergyWebApp.StartAsync(new Dictionary<string, string?>
        {
            ["Energy:Login:PermitsPerUserName"] = "1",
            ["Energy:Login:Window"] = "00:00:02",
        });
        using var client = app.Client();

        // Wrong passwords until one is refused (the first uses the window's only permit; a slow machine may see a window end).
        var refusals = 0;
        for (var attempt = 0; attempt < 50 && refusals == 0; attempt++)
        {
            using var response = await EnergyWebApp.PostLoginAsync(client, "alice", "wrong");
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode}");
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refusals++;
        }
        Assert.Equal(1, refusals);

        // The right password: refused while the window lasts, accepted after it (waiting on that, not on a clock).
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            using var response = await EnergyWebApp.PostLoginAsync(client, "alice", EnergySetup.DemoPassword);
            if (response.StatusCode == HttpStatusCode.Redirect) break;
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            await Task.Delay(100, deadline.Token);
        }
        var me = await client.GetFromJsonAsync<JsonElement>("/api/me");
        Assert.Equal("alice", me.GetProperty("userName").GetString());
    }

    private static async Task AssertStatusAsync(HttpClient client, string userName, string password, HttpStatusCode expected)
    {
        using var response = await EnergyWebApp.PostLoginAsync(client, userName, password);
        Assert.True(response.StatusCode == expected, $"Login '{userName}' / '{password}': {(int)response.StatusCode}, expected {(int)expected}.");
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string token, object? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Add(AntiforgeryCheck.HeaderName, token);
        return client.SendAsync(request);
    }

    /// <summary>No token at all, in the two shapes a request can have: a form and a JSON body.</summary>
    private static IEnumerable<HttpContent> Bodies()
    {
        yield return new FormUrlEncodedContent(new Dictionary<string, string> { ["userName"] = "alice", ["password"] = EnergySetup.DemoPassword });
        yield return new StringContent("""{"userName":"mallory","displayName":"M","email":"m@example.com","password":"x"}""", Encoding.UTF8, "application/json");
    }

    /// <summary>A path that matches <paramref name="pattern"/>: 1 for an int parameter, <c>lobby</c> for any other.</summary>
    private static string SamplePath(RoutePattern pattern)
    {
        var path = new StringBuilder();
        foreach (var segment in pattern.PathSegments)
        {
            path.Append('/');
            foreach (var part in segment.Parts)
                path.Append(part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => parameter.ParameterPolicies.Any(p => p.Content == "int") ? "1" : "lobby",
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => "",
                });
        }
        return path.Length == 0 ? "/" : path.ToString();
    }
}
