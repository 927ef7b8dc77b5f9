using CleanEnergy.Contracts;
using CleanEnergy.Replica.Data;
using CleanEnergy.Replica.Users;
using CleanEnergy.Replica.Web;
using Celeriac;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CleanEnergy.Replica;

/// <summary>The replica's building blocks, so that <c>Program.cs</c> reads as a table of contents.</summary>
internal static class ReplicaHosting
{
    /// <summary>The master's Celeriac store, relative to the replica's content root, when <c>Celeriac:Sqlite:Path</c> is not set.</summary>
    public const string DefaultStorePath = "../CleanEnergy/data/celeriac.db";

    /// <summary>The queue the replica's worker reads besides its durable subscription's (no task is sent to it).</summary>
    public const string WorkerQueue = "replica";

    /// <summary>
    /// Celeriac on the master's store, so that the durable subscription's queue is the one the master's publishes fill:
    /// Redis with <c>--redis HOST:PORT</c>, <c>CELERIAC_REDIS</c> or <c>Celeriac:Redis</c> (as the master), else the
    /// master's SQLite file, <c>Celeriac:Sqlite:Path</c> (default <see cref="DefaultStorePath"/>, relative to the content
    /// root). Returns a description of the store for the banner.
    /// <para>
    /// Sharing a store with another app asks for two precautions. The worker reads only <see cref="WorkerQueue"/> (and
    /// the subscription's queue <c>events:replica</c>), never the master's <c>default</c> queue, whose tasks this app
    /// does not know (it would dead-letter them as unknown). And beat does not run here at all: a scheduler writes its
    /// app's code schedules to the store and removes the code schedules it does not know, which would remove the
    /// master's.
    /// </para>
    /// </summary>
    public static string AddReplicaCeleriac(this WebApplicationBuilder builder, string[] args)
    {
        var redis = RedisCeleriacBuilderExtensions.FindConfiguration(args, builder.Configuration);
        var configured = builder.Configuration["Celeriac:Sqlite:Path"];
        var sqlite = Path.GetFullPath(string.IsNullOrWhiteSpace(configured) ? DefaultStorePath : configured, builder.Environment.ContentRootPath);
        var configuredQueues = builder.Configuration.GetSection("Celeriac:Worker:Queues").Get<string[]>() is { Length: > 0 };
        builder.Services.AddCeleriac(c =>
        {
            if (redis is not null) c.UseRedis(redis);
            else c.UseSqlite(sqlite);
            if (!configuredQueues) c.ConfigureWorker(o => o.Queues = [WorkerQueue]);
            c.ConfigureBeat(o => o.Enabled = false);
        });
        return redis is not null ? $"Redis {redis}" : $"SQLite {sqlite}";
    }

    /// <summary>The replica's own database, the replication service, login, channels.</summary>
    public static WebApplicationBuilder AddReplicaDomain(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        var connectionString = ReplicaDatabase.ConnectionString(builder.Configuration.GetConnectionString("Replica"), builder.Environment.ContentRootPath);
        services.AddDbContext<ReplicaDb>(o => o.UseSqlite(connectionString));
        services.AddScoped<UserReplication>();
        services.AddReplicaAuth();
        services.AddAntiforgery(o => o.Cookie.Name = "CleanEnergy.Replica.Antiforgery");
        services.AddCeleriacChannels();
        services.AddHostedService<CatchUp>();      // asks the master for the users it made before this replica first started
        return builder;
    }

    /// <summary>
    /// The durable subscription <c>replica</c> on <c>users.changed</c> (<see cref="UserReplication"/>), the pages and
    /// the profile WebSocket. The subscription is saved in the store when the process starts (<c>all</c>, <c>web</c> or
    /// <c>worker</c>); from then on every change is queued for it, whether the replica runs or not.
    /// </summary>
    public static WebApplication MapReplica(this WebApplication app)
    {
        app.MapSubscription(UserChanged.Subject,
            (UserChanged change, UserReplication replication, EventContext context, CancellationToken ct) => replication.HandleAsync(change, context, ct),
            durable: UserReplication.DurableName);
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.MapCeleriacClient();
        app.MapConsumer<ProfileConsumer>("/ws/profile").RequireAuthorization();
        app.MapReplicaPages();
        return app;
    }

    /// <summary>Creates the schema of the replica's database (every process that serves or consumes).</summary>
    public static async Task InitializeReplicaDataAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await ReplicaDatabase.EnsureCreatedAsync(scope.ServiceProvider.GetRequiredService<ReplicaDb>(), cancellationToken);
    }

    /// <summary>Prints where the replica listens and how to log in, once it does.</summary>
    public static void PrintBannerWhenStarted(this WebApplication app, string store)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var url = addresses.FirstOrDefault() ?? "(no address)";
            Console.WriteLine($"""

                CleanEnergy.Replica is running at {url}
                  profile page:  {url.TrimEnd('/')}/me   (log in as a replicated user, e.g. alice / {ReplicaAuth.DemoPassword}: the replica keeps no password hashes)
                  users here:    {url.TrimEnd('/')}/api/users
                  subscription:  durable '{UserReplication.DurableName}' on {UserChanged.Subject}
                  store:         {store}   (the master's: this app runs no beat and no master queues)
                  Ctrl-C stops it.

                """);
        });
    }
}
