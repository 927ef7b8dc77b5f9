using System.Diagnostics.CodeAnalysis;
using Celeriac.AspNetCore.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac;

/// <summary>Adds WebSocket consumers (Celeriac channels) to an ASP.NET Core application.</summary>
public static class ChannelsServiceCollectionExtensions
{
    /// <summary>
    /// Adds what <c>MapConsumer</c> needs (call it after <c>AddCeleriac</c>, which provides the channel layer): this
    /// process's group registry (a hosted service), <see cref="ChannelsOptions"/> (bound from
    /// <c>Celeriac:Channels:WebSockets</c>, then <paramref name="configure"/>), and the WebSockets middleware at the
    /// start of the pipeline, so <c>app.UseWebSockets()</c> is not needed. Calling it again is harmless.
    /// </summary>
    public static IServiceCollection AddCeleriacChannels(this IServiceCollection services, Action<ChannelsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(ChannelsNode)))
        {
            services.AddOptions<ChannelsOptions>()
                .Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection("Celeriac:Channels:WebSockets").Bind(o))
                .ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ChannelsOptions>, ChannelsOptionsValidator>());
            services.TryAddSingleton(TimeProvider.System);
            services.AddSingleton<ChannelsNode>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ChannelsNode>());
            services.AddSingleton<Celeriac.Operations.IPresenceContributor>(sp => sp.GetRequiredService<ChannelsNode>());
            services.AddSingleton<IStartupFilter, WebSocketsStartupFilter>();
        }
        if (configure is not null) services.Configure(configure);
        return services;
    }

    private sealed class ChannelsOptionsValidator : IValidateOptions<ChannelsOptions>
    {
        public ValidateOptionsResult Validate(string? name, ChannelsOptions options) =>
            options.IsValid(out var error) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail($"Celeriac:Channels:WebSockets: {error}");
    }

    /// <summary>Puts <c>UseWebSockets</c> (with the configured keep-alive) in front of the application's pipeline.</summary>
    private sealed class WebSocketsStartupFilter(IOptions<ChannelsOptions> options) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            var keepAlive = options.Value.KeepAliveInterval;
            app.UseWebSockets(new WebSocketOptions
            {
                KeepAliveInterval = keepAlive,
                KeepAliveTimeout = keepAlive > TimeSpan.Zero ? keepAlive : Timeout.InfiniteTimeSpan,
            });
            next(app);
        };
    }
}

/// <summary>Maps WebSocket consumers and the JavaScript client.</summary>
public static class ChannelsEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves WebSocket connections on <paramref name="pattern"/> (a route pattern: <c>/ws/chat/{room}</c>) with one
    /// <typeparamref name="T"/> per connection. Requests that are not WebSocket upgrades get 400, and a browser
    /// origin that is not allowed (<see cref="ConsumerOptions.AllowedOrigins"/>) gets 403. The result takes endpoint
    /// conventions: <c>.RequireAuthorization()</c> answers 401/403 before the consumer is created.
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <param name="configure">Changes this endpoint's options, which start as the process-wide <see cref="ChannelsOptions"/>.</param>
    /// <exception cref="InvalidOperationException"><c>AddCeleriacChannels</c> was not called, or a group handler of <typeparamref name="T"/> is declared wrongly.</exception>
    public static IEndpointConventionBuilder MapConsumer<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] T>(
        this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern, Action<ConsumerOptions>? configure = null)
        where T : WebSocketConsumer
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        var services = endpoints.ServiceProvider;
        if (services.GetService<ChannelsNode>() is null || services.GetService<IChannelLayer>() is null)
            throw new InvalidOperationException("Call services.AddCeleriac(...) and services.AddCeleriacChannels() before MapConsumer.");
        var options = new ConsumerOptions(services.GetRequiredService<IOptions<ChannelsOptions>>().Value);
        configure?.Invoke(options);
        var handler = ConsumerEndpoint.Create<T>(services, new EndpointSettings(options));
        return endpoints.Map(pattern, handler).WithDisplayName($"WebSocket consumer {typeof(T).Name} {pattern}");
    }

    /// <summary>
    /// Serves the Celeriac JavaScript client (<c>celeriac.js</c>, embedded in this assembly) at <paramref name="path"/>
    /// as <c>application/javascript</c> with an ETag (unchanged: 304). Answers 404 with an explanation when this
    /// build does not embed it.
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="path">Where to serve it. Default <c>/_celeriac/celeriac.js</c>.</param>
    public static IEndpointConventionBuilder MapCeleriacClient(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string path = "/_celeriac/celeriac.js")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(path);
        return endpoints.MapMethods(path, [HttpMethods.Get, HttpMethods.Head], CeleriacClientScript.ServeAsync).WithDisplayName("Celeriac JavaScript client");
    }
}
