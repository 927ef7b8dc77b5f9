using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Celeriac.AspNetCore.Channels;

/// <summary>The request delegate of one <c>MapConsumer&lt;T&gt;</c> endpoint.</summary>
internal static partial class ConsumerEndpoint
{
    public static RequestDelegate Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] T>(
        IServiceProvider services, EndpointSettings settings)
        where T : WebSocketConsumer
    {
        var handlers = GroupHandlers.For<T>();
        var factory = ActivatorUtilities.CreateFactory<T>([]);
        var node = services.GetRequiredService<ChannelsNode>();
        var layer = services.GetRequiredService<IChannelLayer>();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Celeriac.Channels");
        return async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("This endpoint accepts WebSocket connections only.", context.RequestAborted).ConfigureAwait(false);
                return;
            }
            if (!settings.IsOriginAllowed(context.Request))
            {
                LogOriginRefused(logger, context.Request.Headers.Origin.ToString(), context.Request.Path);
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }
            // The request's scope lives as long as the connection: scoped services last for the connection.
            var consumer = factory(context.RequestServices, null);
            try
            {
                var connection = new ConsumerConnection(context, consumer, handlers, settings, node, layer, time, logger);
                consumer.Attach(connection);
                await connection.RunAsync().ConfigureAwait(false);
            }
            finally
            {
                if (consumer is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                else if (consumer is IDisposable disposable) disposable.Dispose();
            }
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "WebSocket request to {Path} refused: origin {Origin} is not allowed")]
    private static partial void LogOriginRefused(ILogger logger, string origin, string path);
}
