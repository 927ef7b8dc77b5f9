using System.Net;
using System.Text.RegularExpressions;
using CleanEnergy.Api;
using CleanEnergy.Data;
using CleanEnergy.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CleanEnergy.Tests;

/// <summary>
/// The app's web process as <c>Program.cs</c> composes it for the <c>web</c> command (the queue, the domain, the web UI,
/// the JSON API; no worker tasks, no simulator), on real Kestrel at 127.0.0.1 on a free port, with its SQLite files in a
/// temp directory and the demo users seeded. <see cref="Client"/> makes a browser-like client (its own cookies, no
/// redirects followed).
/// </summary>
internal sealed partial class EnergyWebApp : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;

    private EnergyWebApp(DirectoryInfo directory, WebApplication app, Uri address)
    {
        _directory = directory;
        App = app;
        Address = address;
    }

    public WebApplication App { get; }
    public Uri Address { get; }

    /// <summary>Every endpoint the app maps.</summary>
    public IEnumerable<RouteEndpoint> Endpoints =>
        ((IEndpointRouteBuilder)App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>();

    public static async Task<EnergyWebApp> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var directory = Directory.CreateTempSubdirectory("cleanenergy-web-");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = directory.FullName,
            EnvironmentName = Environments.Development,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var configuration = new Dictionary<string, string?> { ["Energy:DataDirectory"] = directory.FullName };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) configuration[key] = value;
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.AddEnergyCeleriac([]);
        builder.AddEnergyDomain();
        builder.AddEnergyWeb();

        var app = builder.Build();
        app.MapEnergyApi();
        app.MapEnergyWeb();
        await app.InitializeEnergyDataAsync(new EnergyCommand("web"));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new EnergyWebApp(directory, app, new Uri(address));
    }

    /// <summary>
    /// A client with its own cookie jar (<paramref name="cookies"/>, to share it with a WebSocket) that does not follow
    /// redirects (a 302 is an answer to look at).
    /// </summary>
    public HttpClient Client(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false, UseCookies = true })
        {
            BaseAddress = Address,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>Posts the login form as the page would (its antiforgery token from a fresh <c>GET /login</c>).</summary>
    public static async Task<HttpResponseMessage> PostLoginAsync(HttpClient client, string userName, string password)
    {
        var token = await FormTokenAsync(client, "/login");
        return await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["userName"] = userName,
            ["password"] = password,
            ["returnUrl"] = "/",
        }));
    }

    /// <summary>Logs in (the demo password by default) and returns the request token the dashboard page carries.</summary>
    public static async Task<string> LoginAsync(HttpClient client, string userName = "alice", string password = EnergySetup.DemoPassword)
    {
        using var response = await PostLoginAsync(client, userName, password);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"Login as {userName}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await FormTokenAsync(client, "/");
    }

    /// <summary>The antiforgery request token in the form of the page at <paramref name="path"/>.</summary>
    public static async Task<string> FormTokenAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode}");
        var match = TokenField().Match(html);
        Assert.True(match.Success, $"GET {path} has no antiforgery field.");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(TimeSpan.FromSeconds(10));
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _directory.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
