using Celeriac.Redis;
using Celeriac.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Celeriac;

/// <summary>Adds the Redis transport, result store, lock provider, schedule store, event store and channel layer to Celeriac.</summary>
public static class RedisCeleriacBuilderExtensions
{
    /// <summary>Environment variable that, when set, replaces the connection string given in code or configuration.</summary>
    public const string EnvironmentVariable = "CELERIAC_REDIS";

    /// <summary>
    /// The Redis configuration this process was given, for apps that run on Redis when told to and on another store
    /// otherwise: <c>--redis HOST:PORT</c> (or <c>--redis=…</c>) in <paramref name="args"/> (the command line's own
    /// option, read before the host is built), <see cref="EnvironmentVariable"/>, or the <c>Celeriac:Redis</c> section
    /// (its value or its <c>Configuration</c>). <see langword="null"/> when none is set.
    /// </summary>
    /// <param name="args">The process's arguments.</param>
    /// <param name="configuration">The app's configuration.</param>
    public static string? FindConfiguration(string[] args, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(configuration);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--redis" && i + 1 < args.Length) return args[i + 1];
            if (args[i].StartsWith("--redis=", StringComparison.Ordinal)) return args[i]["--redis=".Length..];
        }
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } variable) return variable;
        var section = configuration.GetSection("Celeriac:Redis");
        return section.Value is { Length: > 0 } value ? value
            : section["Configuration"] is { Length: > 0 } nested ? nested
            : null;
    }

    /// <summary>
    /// Uses Redis as the queue, the result store, the lock provider, the schedule store, the event store, the channel
    /// layer (<see cref="IChannelLayer"/>) and the operations store (heartbeats and the task journal), shared by every
    /// process and machine that points at the same server with the same <see cref="RedisOptions.KeyPrefix"/>. Replaces any transport, result store, lock provider, schedule store,
    /// event store or channel layer registered before. One connection (multiplexer) per container is opened at first use
    /// and closed when the container is disposed.
    /// </summary>
    /// <param name="builder">The Celeriac builder.</param>
    /// <param name="configuration">StackExchange.Redis configuration string, for example <c>127.0.0.1:6379</c>.</param>
    /// <param name="configure">Changes further <see cref="RedisOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static CeleriacBuilder UseRedis(this CeleriacBuilder builder, string configuration, Action<RedisOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        var services = builder.Services;
        builder.ClearStores();
        services.RemoveAll<RedisConnection>();
        services.AddOptions<RedisOptions>()
            .Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection("Celeriac:Redis").Bind(o))
            .Configure(o =>
            {
                o.Configuration = configuration;
                configure?.Invoke(o);
            })
            .PostConfigure(o =>
            {
                // The operator's override (the command line's --redis sets it too) wins over code and configuration.
                if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } overridden) o.Configuration = overridden;
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.Configuration) && RedisKeys.IsValidPrefix(o.KeyPrefix),
                "Redis options: Configuration must be set; KeyPrefix must not be empty or hold spaces.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new RedisConnection(
            sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            LoggerFor<RedisConnection>(sp)));
        services.AddSingleton<ITaskTransport>(sp => new RedisTransport(
            sp.GetRequiredService<RedisConnection>(),
            LoggerFor<RedisTransport>(sp)));
        services.AddSingleton<IResultStore>(sp => new RedisResultStore(sp.GetRequiredService<RedisConnection>()));
        services.AddSingleton<ILockProvider>(sp => new RedisLockProvider(sp.GetRequiredService<RedisConnection>()));
        services.AddSingleton<IScheduleStore>(sp => new RedisScheduleStore(sp.GetRequiredService<RedisConnection>()));
        services.AddSingleton<IEventStore>(sp => new RedisEventStore(
            sp.GetRequiredService<RedisConnection>(),
            LoggerFor<RedisEventStore>(sp)));
        services.AddSingleton<IChannelLayer>(sp => new RedisChannelLayer(
            sp.GetRequiredService<RedisConnection>(),
            sp.GetRequiredService<IOptions<ChannelLayerOptions>>().Value,
            LoggerFor<RedisChannelLayer>(sp)));
        services.AddSingleton<IOperationsStore>(sp => new RedisOperationsStore(sp.GetRequiredService<RedisConnection>()));
        return builder;
    }

    /// <summary>The logger of <typeparamref name="T"/>, or none when the container has no logging.</summary>
    private static ILogger LoggerFor<T>(IServiceProvider sp) =>
        (ILogger?)sp.GetService<ILoggerFactory>()?.CreateLogger<T>() ?? NullLogger.Instance;
}
