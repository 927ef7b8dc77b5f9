using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.AspNetCore.Tests;

/// <summary>A real Kestrel server on a free loopback port with Celeriac channels, the in-memory layer and captured logs.</summary>
internal sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, LogSink logs)
    {
        App = app;
        Logs = logs;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new Uri(address);
        Ws = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal));
    }

    public WebApplication App { get; }

    public LogSink Logs { get; }

    public Uri Http { get; }

    public Uri Ws { get; }

    public Probe Probe => App.Services.GetRequiredService<Probe>();

    public IChannelLayer Layer => App.Services.GetRequiredService<IChannelLayer>();

    public static async Task<TestApp> StartAsync(Action<WebApplication> map, Action<IServiceCollection>? services = null, Action<ChannelsOptions>? channels = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var logs = new LogSink();
        builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Information);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Services.AddCeleriac(c => c.UseInMemory());
        builder.Services.AddCeleriacChannels(channels);
        builder.Services.AddSingleton<Probe>();
        builder.Services.AddAuthentication("Header").AddScheme<AuthenticationSchemeOptions, HeaderAuthHandler>("Header", null);
        builder.Services.AddAuthorization();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        try
        {
            map(app);
            await app.StartAsync();
            return new TestApp(app, logs);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public async Task<TestClient> ConnectAsync(string pathAndQuery, Action<ClientWebSocketOptions>? configure = null, HttpMessageInvoker? invoker = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(new Uri(Ws, pathAndQuery), invoker, timeout.Token);
        return new TestClient(socket);
    }

    /// <summary>The HTTP status of a refused WebSocket request.</summary>
    public async Task<HttpStatusCode> RefusedStatusAsync(string pathAndQuery, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(Ws, pathAndQuery), CancellationToken.None));
        return socket.HttpStatusCode;
    }

    public async Task<int> MemberCountAsync(string group) => (await Layer.GetMembersAsync(group)).Count;

    /// <summary>Waits until the layer lists <paramref name="count"/> members of <paramref name="group"/> (reports are debounced ~1 s).</summary>
    public async Task WaitForMembersAsync(string group, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (await MemberCountAsync(group) != count)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"group {group}: {await MemberCountAsync(group)} members, expected {count}");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await App.StopAsync(timeout.Token);
        await App.DisposeAsync();
    }
}

/// <summary>A ClientWebSocket with helpers to read frames.</summary>
internal sealed class TestClient(ClientWebSocket socket) : IAsyncDisposable
{
    private readonly byte[] _buffer = new byte[256 * 1024];

    public ClientWebSocket Socket { get; } = socket;

    public Task SendAsync(string text) => Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    public Task SendJsonAsync(object frame) => SendAsync(JsonSerializer.Serialize(frame));

    /// <summary>The next frame as text, or null when the server closed (then <see cref="ClientWebSocket.CloseStatus"/> tells).</summary>
    public async Task<string?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var length = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(_buffer.AsMemory(length), cts.Token);
            if (result.MessageType == WebSocketMessageType.Close) return null;
            length += result.Count;
            if (result.EndOfMessage) return Encoding.UTF8.GetString(_buffer, 0, length);
        }
    }

    public async Task<JsonElement> ReceiveJsonAsync(TimeSpan? timeout = null)
    {
        var text = await ReceiveAsync(timeout);
        Assert.NotNull(text);
        return JsonSerializer.Deserialize<JsonElement>(text);
    }

    /// <summary>Reads until the server's close frame, answers it (as browsers do) and returns its code.</summary>
    public async Task<WebSocketCloseStatus?> ReceiveCloseAsync(TimeSpan? timeout = null)
    {
        while (await ReceiveAsync(timeout ?? TimeSpan.FromSeconds(15)) is not null)
        {
        }
        if (Socket.State == WebSocketState.CloseReceived) await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        return Socket.CloseStatus;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        Socket.Dispose();
    }
}

/// <summary>What consumers saw, for assertions.</summary>
internal sealed class Probe
{
    private readonly ConcurrentQueue<string> _events = new();

    public void Add(string e) => _events.Enqueue(e);

    public IReadOnlyCollection<string> Events => _events;

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            if (_events.FirstOrDefault(match) is { } found) return found;
            if (DateTime.UtcNow > deadline) Assert.Fail($"no matching event in: {string.Join(", ", _events)}");
            await Task.Delay(10);
        }
    }
}

/// <summary>Captures log lines.</summary>
internal sealed class LogSink : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, string Message, Exception? Exception)> _entries = new();

    public IReadOnlyCollection<(string Category, LogLevel Level, string Message, Exception? Exception)> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public async Task WaitForAsync(string contains, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!_entries.Any(e => e.Message.Contains(contains, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"no log line containing '{contains}'");
            await Task.Delay(10);
        }
    }

    public void Dispose()
    {
    }

    private sealed class Logger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink._entries.Enqueue((category, logLevel, formatter(state, exception), exception));
    }
}

/// <summary>Authenticates the user named in the X-Test-User header.</summary>
internal sealed class HeaderAuthHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var user = Request.Headers["X-Test-User"].ToString();
        if (user.Length == 0) return Task.FromResult(AuthenticateResult.NoResult());
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "Header"));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, "Header")));
    }
}
