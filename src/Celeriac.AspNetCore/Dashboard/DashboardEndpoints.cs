using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Celeriac.AspNetCore.Channels;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>An answer other than 200, thrown by a handler and written by <see cref="DashboardEndpoints.Guard"/>.</summary>
internal sealed class DashboardHttpException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static DashboardHttpException BadRequest(string message) => new(StatusCodes.Status400BadRequest, message);

    public static DashboardHttpException NotFound(string message) => new(StatusCodes.Status404NotFound, message);

    public static DashboardHttpException Missing(string service, string what) =>
        new(StatusCodes.Status501NotImplemented, $"{what} is not available in this app: no {service} is registered.");
}

/// <summary>
/// Maps the dashboard: the page and its assets, the JSON API under <c>api/</c>, the WebSocket at <c>ws</c>. Every
/// endpoint goes through <see cref="Guard"/>: without an authorization requirement on the endpoint only loopback
/// requests are served; actions (POSTs) need the antiforgery token and are refused when read-only; errors become JSON
/// answers (400 for bad input, 501 for a service the app does not have), never a crash.
/// </summary>
internal static partial class DashboardEndpoints
{
    private const int MaxBodyBytes = 256 * 1024;
    internal const int MaxTextLength = 500;

    public static void Map(RouteGroupBuilder group, string prefix, DashboardOptions options, IServiceProvider services)
    {
        var assets = DashboardAssets.Load(options.Title);
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Celeriac.Dashboard");
        var api = new DashboardApi(services, options);

        // Routing matches /celeriac and /celeriac/ alike; the page's relative URLs need the slash, so add it.
        var index = Guard(assets.ServeIndexAsync, logger, options, action: false);
        group.MapGet("/", context =>
        {
            if (context.Request.Path.Value?.EndsWith('/') == true) return index(context);
            context.Response.Redirect(context.Request.PathBase + context.Request.Path + "/" + context.Request.QueryString);
            return Task.CompletedTask;
        }).WithDisplayName("Celeriac dashboard");
        group.MapGet("/assets/{name}", Guard(assets.ServeAsync, logger, options, action: false)).WithDisplayName("Celeriac dashboard assets");

        void Get(string path, Func<HttpContext, Task> handler) =>
            group.MapGet("/api/" + path, Guard(handler, logger, options, action: false)).WithDisplayName("Celeriac dashboard GET " + path);
        void Post(string path, Func<HttpContext, JsonElement, Task> handler) =>
            group.MapPost("/api/" + path, Guard(async c => await handler(c, await ReadBodyAsync(c).ConfigureAwait(false)).ConfigureAwait(false), logger, options, action: true))
                .WithDisplayName("Celeriac dashboard POST " + path);

        Get("info", api.InfoAsync);
        Get("antiforgery", api.AntiforgeryAsync);
        Get("snapshot", api.SnapshotAsync);
        Get("history", api.HistoryAsync);
        Post("queues/purge", api.PurgeAsync);
        Get("tasks", api.TasksAsync);
        Get("tasks/{id}", api.TaskAsync);
        Post("tasks/retry", api.RetryAsync);
        Post("tasks/revoke", api.RevokeAsync);
        Get("dead-letters", api.DeadLettersAsync);
        Get("dead-letters/{id}", api.DeadLetterAsync);
        Post("dead-letters/requeue", api.RequeueAsync);
        Post("dead-letters/delete", api.DeleteAsync);
        Get("schedules", api.SchedulesAsync);
        Get("schedules/cron", api.CronPreviewAsync);
        Post("schedules/pause", api.PauseAsync);
        Post("schedules/resume", api.ResumeAsync);
        Post("schedules/run", api.RunNowAsync);
        Post("schedules/remove", api.RemoveScheduleAsync);
        Post("schedules/save", api.SaveScheduleAsync);
        Get("events", api.EventsAsync);
        Get("workers", api.WorkersAsync);
        Post("workers/ping", api.PingAsync);
        Post("workers/stop", api.StopAsync);
        Post("workers/concurrency", api.ConcurrencyAsync);
        Get("channels", api.ChannelsAsync);
        group.MapPost("/api/{**rest}", Guard(_ => throw DashboardHttpException.NotFound("No such dashboard action."), logger, options, action: true));
        group.MapGet("/api/{**rest}", Guard(_ => throw DashboardHttpException.NotFound("No such dashboard API."), logger, options, action: false));

        var consumerOptions = new ConsumerOptions(services.GetRequiredService<IOptions<ChannelsOptions>>().Value);
        var socket = ConsumerEndpoint.Create<DashboardConsumer>(services, new EndpointSettings(consumerOptions));
        group.Map("/ws", Guard(c => socket(c), logger, options, action: false)).WithDisplayName("Celeriac dashboard WebSocket");
    }

    /// <summary>Whether the endpoint carries an authorization requirement (<c>RequireAuthorization</c>, <c>[Authorize]</c>).</summary>
    internal static bool RequiresAuthorization(Endpoint? endpoint) =>
        endpoint is not null
        && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null
        && (endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null || endpoint.Metadata.GetMetadata<AuthorizationPolicy>() is not null);

    internal static bool IsLoopback(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null) return false;
        if (remote.IsIPv4MappedToIPv6) remote = remote.MapToIPv4();
        return IPAddress.IsLoopback(remote);
    }

    private static RequestDelegate Guard(Func<HttpContext, Task> handler, ILogger logger, DashboardOptions options, bool action) => async context =>
    {
        context.Response.Headers.XContentTypeOptions = "nosniff";
        if (!RequiresAuthorization(context.GetEndpoint()) && !IsLoopback(context))
        {
            await WriteErrorAsync(context, StatusCodes.Status403Forbidden,
                "The Celeriac dashboard serves only local (loopback) requests until it requires authorization: app.MapCeleriacDashboard(\"/celeriac\").RequireAuthorization(\"policy\").").ConfigureAwait(false);
            return;
        }
        try
        {
            if (action)
            {
                if (options.ReadOnly) throw new DashboardHttpException(StatusCodes.Status403Forbidden, "This dashboard is read-only.");
                var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
                try
                {
                    await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
                }
                catch (AntiforgeryValidationException)
                {
                    throw DashboardHttpException.BadRequest("The antiforgery token is missing or invalid: reload the page.");
                }
            }
            await handler(context).ConfigureAwait(false);
        }
        catch (DashboardHttpException e)
        {
            await WriteErrorAsync(context, e.Status, e.Message).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or JsonException or OverflowException)
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (!context.Response.HasStarted)
        {
            await WriteErrorAsync(context, StatusCodes.Status409Conflict, e.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            LogFailed(logger, e, context.Request.Method, context.Request.Path);
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, $"The store could not do it: {e.Message}").ConfigureAwait(false);
        }
    };

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted) return;
        context.Response.StatusCode = status;
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(new ErrorAnswer(message), DashboardJson.Default.ErrorAnswer, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    public static Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type)
    {
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsJsonAsync(value, type, cancellationToken: context.RequestAborted);
    }

    /// <summary>The request's JSON body (an empty body is an empty object); 400 when it is not JSON or too large.</summary>
    private static async Task<JsonElement> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBodyBytes) throw DashboardHttpException.BadRequest($"The body is over {MaxBodyBytes} bytes.");
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes) throw DashboardHttpException.BadRequest($"The body is over {MaxBodyBytes} bytes.");
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0) return JsonDocument.Parse("{}").RootElement.Clone();
        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 32 });
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw DashboardHttpException.BadRequest("The body must be a JSON object.");
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw DashboardHttpException.BadRequest($"The body is not valid JSON: {e.Message}");
        }
    }

    /// <summary>A string property of <paramref name="body"/>: null when absent, 400 when not a string or too long.</summary>
    public static string? Text(JsonElement body, string name, bool required = false, int maxLength = MaxTextLength)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return required ? throw DashboardHttpException.BadRequest($"'{name}' is required.") : null;
        if (value.ValueKind != JsonValueKind.String) throw DashboardHttpException.BadRequest($"'{name}' must be a string.");
        var text = value.GetString()!.Trim();
        if (text.Length > maxLength) throw DashboardHttpException.BadRequest($"'{name}' is over {maxLength} characters.");
        if (text.Length == 0) return required ? throw DashboardHttpException.BadRequest($"'{name}' is required.") : null;
        return text;
    }

    /// <summary>A query parameter: null when absent, 400 when too long.</summary>
    public static string? Query(HttpContext context, string name, int maxLength = MaxTextLength)
    {
        var value = context.Request.Query[name].ToString().Trim();
        if (value.Length > maxLength) throw DashboardHttpException.BadRequest($"'{name}' is over {maxLength} characters.");
        return value.Length == 0 ? null : value;
    }

    public static int QueryInt(HttpContext context, string name, int fallback, int min, int max)
    {
        var value = Query(context, name, 20);
        if (value is null) return fallback;
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw DashboardHttpException.BadRequest($"'{name}' must be a whole number from {min} to {max}.");
        return n;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Dashboard request {Method} {Path} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method, string path);
}
