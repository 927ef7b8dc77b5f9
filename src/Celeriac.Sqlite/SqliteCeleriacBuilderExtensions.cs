using Celeriac.Sqlite;
using Celeriac.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Celeriac;

/// <summary>Adds the embedded SQLite transport and result store to Celeriac.</summary>
public static class SqliteCeleriacBuilderExtensions
{
    /// <summary>
    /// Uses one SQLite file (WAL mode) as the durable queue, result store, lock table, beat schedule store, event
    /// store (durable subscriptions and the log live listeners read), channel layer (WebSocket groups shared by
    /// every process on the file) and operations store (process heartbeats and the task journal). Several processes on
    /// the same machine may use the same file. Replaces any transport, store or channel layer registered before.
    /// </summary>
    /// <param name="builder">The Celeriac builder.</param>
    /// <param name="path">Path of the database file; its directory is created when missing.</param>
    /// <param name="configure">Changes further <see cref="SqliteOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static CeleriacBuilder UseSqlite(this CeleriacBuilder builder, string path, Action<SqliteOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var services = builder.Services;
        builder.ClearStores();
        services.RemoveAll<SqliteEngine>();
        services.AddOptions<SqliteOptions>()
            .Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection("Celeriac:Sqlite").Bind(o))
            .Configure(o =>
            {
                o.Path = path;
                configure?.Invoke(o);
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.Path) && o.PollInterval > TimeSpan.Zero && o.BusyTimeout >= TimeSpan.Zero,
                "SQLite options: Path must be set, PollInterval positive and BusyTimeout not negative.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new SqliteEngine(
            sp.GetRequiredService<IOptions<SqliteOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            LoggerFor<SqliteEngine>(sp)));
        services.AddSingleton<ITaskTransport>(sp => new SqliteTransport(sp.GetRequiredService<SqliteEngine>(), LoggerFor<SqliteTransport>(sp)));
        services.AddSingleton<IResultStore>(sp => new SqliteResultStore(sp.GetRequiredService<SqliteEngine>()));
        services.AddSingleton<ILockProvider>(sp => new SqliteLockProvider(sp.GetRequiredService<SqliteEngine>()));
        services.AddSingleton<IScheduleStore>(sp => new SqliteScheduleStore(sp.GetRequiredService<SqliteEngine>()));
        services.AddSingleton<IEventStore>(sp => new SqliteEventStore(sp.GetRequiredService<SqliteEngine>(),
            LoggerFor<SqliteEventStore>(sp)));
        services.AddSingleton<IChannelLayer>(sp => new SqliteChannelLayer(
            sp.GetRequiredService<SqliteEngine>(),
            sp.GetRequiredService<IOptions<ChannelLayerOptions>>().Value,
            LoggerFor<SqliteChannelLayer>(sp)));
        services.AddSingleton<IOperationsStore>(sp => new SqliteOperationsStore(sp.GetRequiredService<SqliteEngine>()));
        return builder;
    }

    /// <summary>The logger of <typeparamref name="T"/>, or none when the container has no logging.</summary>
    private static ILogger LoggerFor<T>(IServiceProvider sp) =>
        (ILogger?)sp.GetService<ILoggerFactory>()?.CreateLogger<T>() ?? NullLogger.Instance;
}
