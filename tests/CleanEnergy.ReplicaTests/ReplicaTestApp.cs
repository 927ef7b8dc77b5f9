using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CleanEnergy.Contracts;
using CleanEnergy.Replica;
using CleanEnergy.Replica.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CleanEnergy.ReplicaTests;

/// <summary>
/// The replica app in this process, built by the same code as its Program.cs, on Kestrel at a free loopback port, with its
/// database and its Celeriac SQLite store in a temp directory.
/// </summary>
internal sealed partial class ReplicaTestApp : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;

    private ReplicaTestApp(DirectoryInfo directory, WebApplication app)
    {
        _directory = directory;
        App = app;
        Http = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public WebApplication App { get; }

    public Uri Http { get; }

    public Uri Ws => new(Http.ToString().Replace("http://", "ws://", StringComparison.Ordinal));

    public static async Task<ReplicaTestApp> StartAsync()
    {
        var directory = Directory.CreateTempSubdirectory("replica-app-");
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            "--contentRoot", directory.FullName,
            $"--Celeriac:Sqlite:Path={Path.Combine(directory.FullName, "celeriac.db")}",
            $"--ConnectionStrings:Replica=Data Source={Path.Combine(directory.FullName, "replica.db")}",
        ];
        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.ClearProviders();
        builder.AddReplicaCeleriac(args);
        builder.AddReplicaDomain();
        var app = builder.Build();
        try
        {
            app.MapReplica();
            await app.InitializeReplicaDataAsync();
            await app.StartAsync();
            return new ReplicaTestApp(directory, app);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>Applies a change as the durable subscription would (handler and push).</summary>
    public async Task<ReplicationOutcome> ApplyAsync(UserChanged change)
    {
        await using var scope = App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<UserReplication>().HandleAsync(change, null, CancellationToken.None);
    }

    /// <summary>Logs in through the login form (antiforgery token included); returns the cookies of the session.</summary>
    public async Task<CookieContainer> LoginAsync(string userName, string password = "demo")
    {
        var cookies = new CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { BaseAddress = Http };
        var form = await http.GetStringAsync("/login");
        var token = TokenField().Match(form);
        Assert.True(token.Success, "The login form has no antiforgery token.");
        using var response = await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [token.Groups["name"].Value] = WebUtility.HtmlDecode(token.Groups["value"].Value),
            ["userName"] = userName,
            ["password"] = password,
            ["returnUrl"] = "/me",
        }));
        if (response.StatusCode != HttpStatusCode.Redirect)
            throw new InvalidOperationException($"Login as {userName} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("/me", response.Headers.Location?.ToString());
        return cookies;
    }

    /// <summary>Opens <c>/ws/profile</c> with <paramref name="cookies"/> (none: anonymous).</summary>
    public async Task<ProfileSocket> ConnectAsync(CookieContainer? cookies)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (cookies is not null) socket.Options.Cookies = cookies;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await socket.ConnectAsync(new Uri(Ws, "/ws/profile"), timeout.Token);
        }
        catch (WebSocketException)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            throw new RefusedException(status);
        }
        return new ProfileSocket(socket);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _directory.Delete(recursive: true); } catch (IOException) { }
    }

    [GeneratedRegex("""name="(?<name>__RequestVerificationToken)" value="(?<value>[^"]+)">""")]
    private static partial Regex TokenField();

    /// <summary>The WebSocket upgrade was refused with <see cref="Status"/>.</summary>
    internal sealed class RefusedException(HttpStatusCode status) : Exception($"The WebSocket was refused with HTTP {(int)status}.")
    {
        public HttpStatusCode Status { get; } = status;
    }
}

/// <summary>A client of <c>/ws/profile</c> speaking the protocol frames by hand.</summary>
internal sealed class ProfileSocket(ClientWebSocket socket) : IAsyncDisposable
{
    public Task JoinAsync(string group) => SendAsync(JsonSerializer.Serialize(new { celeriac = "join", group }));

    public Task SendAsync(string text) => socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next text frame as JSON.</summary>
    public async Task<JsonElement> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancel.Token);
            if (result.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException($"The server closed the socket: {result.CloseStatus} {result.CloseStatusDescription}");
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage) return JsonSerializer.Deserialize<JsonElement>(message.ToArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        socket.Dispose();
    }
}
