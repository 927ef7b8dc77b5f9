using CleanEnergy.Contracts;
using CleanEnergy.Data;
using CleanEnergy.Devices;
using CleanEnergy.Grid;
using CleanEnergy.Live;
using CleanEnergy.Observations;
using CleanEnergy.Users;
using CleanEnergy.Vendor;
using CleanEnergy.VendorCloud;
using Celeriac;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CleanEnergy;

/// <summary>
/// The application's building blocks, so that <c>Program.cs</c> reads as a table of contents:
/// <c>AddEnergyCeleriac</c> (the queue), <c>AddEnergyDomain</c> (data, vendor client, services),
/// <c>StartVendorCloudIfNeededAsync</c> (the simulator in one-command mode), <c>MapEnergyTasks</c>,
/// <c>MapEnergySchedules</c>, <c>MapEnergyAlertForwarding</c> and <c>InitializeEnergyDataAsync</c>.
/// </summary>
internal static class EnergyHosting
{
    /// <summary>
    /// Celeriac on Redis when <c>--redis HOST:PORT</c>, <c>CELERIAC_REDIS</c> or <c>Celeriac:Redis</c> (a connection
    /// string, or the section's <c>Configuration</c>) is given: then web, worker and beat can run as separate processes
    /// on many machines. Otherwise on a SQLite file, shared by every process on it (web, worker, beat, the replica: the
    /// queue, schedules, events and WebSocket groups): <c>Celeriac:Sqlite:Path</c> (relative to the content root), by
    /// default <c>celeriac.db</c> in <c>Energy:DataDirectory</c> (<c>data/celeriac.db</c>).
    /// </summary>
    public static CeleriacBuilder AddEnergyCeleriac(this IHostApplicationBuilder builder, string[] args)
    {
        var redis = RedisCeleriacBuilderExtensions.FindConfiguration(args, builder.Configuration);
        var contentRoot = builder.Environment.ContentRootPath;
        var sqlite = builder.Configuration["Celeriac:Sqlite:Path"] is { Length: > 0 } configured
            ? Path.GetFullPath(configured, contentRoot)
            : Path.Combine(EnergyOptions.DataDirectoryOf(builder.Configuration, contentRoot), "celeriac.db");
        return builder.Services.AddCeleriac(c =>
        {
            if (redis is not null) c.UseRedis(redis);
            else c.UseSqlite(sqlite);
            // A device task waiting a minute means no worker runs: one alert on the dashboard, one when it moves again.
            c.AlertWhenStalled("default", builder.Configuration.GetValue("Energy:QueueStalledAfter", TimeSpan.FromMinutes(1)));
        });
    }

    /// <summary>Options, the database (SQLite or PostgreSQL), the vendor client and the domain services.</summary>
    public static IHostApplicationBuilder AddEnergyDomain(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<EnergyOptions>().BindConfiguration(EnergyOptions.SectionName)
            .Validate(o => o.CleanThreshold >= 0 && o.RawRetentionDays >= 1 && o.Retry.MaxRetries >= 0 && o.Retry.Backoff >= TimeSpan.Zero
                && o.FanOutExpiry > TimeSpan.Zero && o.GridMaxAge > TimeSpan.Zero
                && o.Login.PermitsPerUserName >= 1 && o.Login.PermitsPerAddress >= 1 && o.Login.Window > TimeSpan.Zero,
                "Energy options: CleanThreshold >= 0, RawRetentionDays >= 1, Retry.MaxRetries >= 0, Retry.Backoff >= 0, FanOutExpiry and GridMaxAge > 0, "
                + "Login.PermitsPerUserName and Login.PermitsPerAddress >= 1, Login.Window > 0.")
            .ValidateOnStart();
        services.AddOptions<VendorOptions>().BindConfiguration(VendorOptions.SectionName)
            .Validate(o => o.TimeoutSeconds > 0 && (string.IsNullOrEmpty(o.BaseUrl) || Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out _)),
                "Vendor options: TimeoutSeconds > 0; BaseUrl an absolute URL when set.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);

        var contentRoot = builder.Environment.ContentRootPath;
        var connectionString = builder.Configuration.GetConnectionString("Energy") is { Length: > 0 } configured
            ? configured
            : new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Path.Combine(EnergyOptions.DataDirectoryOf(builder.Configuration, contentRoot), "energy.db") }.ToString();
        // The factory for short units of work of their own (interaction records); EnergyDb itself, scoped, for the rest.
        services.AddDbContextFactory<EnergyDb>(o => EnergyDatabase.Configure(o, connectionString, contentRoot));

        services.AddHttpClient<VendorClient>((sp, http) =>
        {
            var vendor = sp.GetRequiredService<IOptions<VendorOptions>>().Value;
            var baseUrl = string.IsNullOrEmpty(vendor.BaseUrl) ? VendorCloudServer.DefaultUrl : vendor.BaseUrl;
            http.BaseAddress = new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/");
            http.Timeout = TimeSpan.FromSeconds(vendor.TimeoutSeconds);
        });

        services.AddScoped<ObservationStore>();
        services.AddScoped<DeviceHealth>();
        services.AddScoped<DeviceGateway>();
        services.AddScoped<DeviceCatalog>();
        services.AddScoped<ObservationRollup>();
        services.AddScoped<UserService>();
        services.AddSingleton<LiveUpdates>();
        services.AddSingleton<EnergySetup>();
        return builder;
    }

    /// <summary>
    /// The one-command mode: when <c>Vendor:BaseUrl</c> is not set and this process runs everything (<c>all</c>), starts
    /// the vendor simulator in this process on a free loopback port (options from the <c>VendorCloud</c> section) and
    /// points the vendor client at it. Returns the simulator (dispose it after the app), or null.
    /// </summary>
    public static async Task<VendorCloudHandle?> StartVendorCloudIfNeededAsync(this IHostApplicationBuilder builder, EnergyCommand command, CancellationToken cancellationToken = default)
    {
        if (!string.IsNullOrEmpty(builder.Configuration[$"{VendorOptions.SectionName}:BaseUrl"]) || !command.IsAll) return null;
        var options = builder.Configuration.GetSection(VendorCloudOptions.SectionName).Get<VendorCloudOptions>() ?? new VendorCloudOptions();
        options.Urls = "http://127.0.0.1:0";
        var simulator = await VendorCloudServer.StartAsync(options, cancellationToken);
        builder.Configuration[$"{VendorOptions.SectionName}:BaseUrl"] = simulator.BaseAddress.ToString();
        return simulator;
    }

    /// <summary>
    /// The tasks. Tasks take ids, not objects. Vendor calls are retried on <see cref="HttpRequestException"/> (5xx, no
    /// connection) and <see cref="TimeoutException"/> with exponential backoff and full jitter (<c>Energy:Retry</c>);
    /// the device tasks decide about their last retry themselves (<see cref="DeviceGateway"/>). poll, switch and decide
    /// hold the lock <c>device:{deviceId}</c> while they run.
    /// </summary>
    public static IHost MapEnergyTasks(this IHost app)
    {
        var options = app.Services.GetRequiredService<IOptions<EnergyOptions>>().Value;
        var retry = options.Retry;
        Type[] transient = [typeof(HttpRequestException), typeof(TimeoutException)];
        TaskBuilder Vendor(TaskBuilder task) => task.Retry(transient, retry.Backoff, retry.MaxRetries, jitter: true, retry.MaxBackoff);

        Vendor(app.MapTask("devices.poll", DeviceTasks.PollAsync)).Lock("device:{deviceId}");
        Vendor(app.MapTask("devices.switch", DeviceTasks.SwitchAsync)).Lock("device:{deviceId}");
        Vendor(app.MapTask("devices.decide", DeviceTasks.DecideAsync)).Lock("device:{deviceId}");
        Vendor(app.MapTask("devices.poll_all", DeviceTasks.PollAllAsync));
        Vendor(app.MapTask("devices.decide_all", DeviceTasks.DecideAllAsync));
        Vendor(app.MapTask("devices.sync", DeviceTasks.SyncAsync));
        // A tick that keeps failing is not worth chasing: the next one is due in seconds (and this one expires then).
        app.MapTask("grid.refresh", GridTasks.RefreshAsync).Retry(transient, TimeSpan.FromMilliseconds(200), maxRetries: 2, jitter: true);
        app.MapTask("clock.tick", GridTasks.TickAsync).IgnoreResult();
        app.MapTask("observations.rollup", (ObservationRollup rollup, CancellationToken ct) => rollup.RunAsync(ct)).Lock("observations.rollup");
        // Publishing can only fail when the store is down: retry on anything, a few times.
        app.MapTask(UserService.PublishTask, UserTasks.PublishChangeAsync).Retry([typeof(Exception)], TimeSpan.FromSeconds(1), maxRetries: 5);
        app.MapTask(UserChanged.RepublishAllTask, UserTasks.RepublishAllAsync).Retry([typeof(Exception)], TimeSpan.FromSeconds(1), maxRetries: 5);
        return app;
    }

    /// <summary>The beat schedules (<c>Energy:Schedules</c>), fast demo defaults: see <see cref="EnergyOptions.ScheduleSettings"/>.</summary>
    public static IHost MapEnergySchedules(this IHost app)
    {
        var s = app.Services.GetRequiredService<IOptions<EnergyOptions>>().Value.Schedules;
        if (!s.Enabled) return app;
        app.MapSchedule("grid.refresh", "grid.refresh", every: s.GridRefresh);
        app.MapSchedule("devices.poll_all", "devices.poll_all", every: s.PollAll);
        app.MapSchedule("devices.decide_all", "devices.decide_all", every: s.DecideAll);
        app.MapSchedule("clock.tick", "clock.tick", every: s.ClockTick);
        app.MapSchedule("observations.rollup", "observations.rollup", cron: s.Rollup,
            timeZone: string.IsNullOrWhiteSpace(s.RollupTimeZone) ? null : s.RollupTimeZone,
            configure: o => o.Expires = TimeSpan.FromHours(1));
        return app;
    }

    /// <summary>
    /// Ephemeral subscriptions on <c>alerts.&gt;</c> and <c>celeriac.queue.*</c> (stall alerts) that forward each alert to the <c>alerts</c> group as
    /// <c>{ type: "alert", id, subject, text, at }</c>. Ephemeral, so every process that maps it forwards what is published
    /// while it runs: map it in the processes that serve the web (<c>all</c>, <c>web</c>), not in workers. With several
    /// web processes each forwards every alert; the page drops repeats by <c>id</c> (the event id).
    /// </summary>
    public static IHost MapEnergyAlertForwarding(this IHost app)
    {
        app.MapSubscription("alerts.>", (System.Text.Json.JsonElement payload, EventContext e, LiveUpdates live, CancellationToken ct) =>
            live.AlertAsync(e.Id, e.Subject, AlertText(payload), e.PublishedAt, ct));
        app.MapSubscription("celeriac.queue.*", (Celeriac.Operations.QueueStallAlert alert, EventContext e, LiveUpdates live, CancellationToken ct) =>
            live.AlertAsync(e.Id, e.Subject, StallText(alert), e.PublishedAt, ct));
        return app;
    }

    /// <summary>A stall alert's text: "Queue default is stalled: 3 ready, the oldest waiting 1m 12s" or "… moves again after 2m 5s".</summary>
    internal static string StallText(Celeriac.Operations.QueueStallAlert alert) => alert.StalledFor is { } stalledFor
        ? $"Queue {alert.Queue} moves again after {Span(stalledFor)} stalled"
        : $"Queue {alert.Queue} is stalled: {alert.Ready} ready, the oldest waiting {Span(alert.At - (alert.OldestReadyAt ?? alert.At))} (no worker?)";

    private static string Span(TimeSpan span) => span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m {span.Seconds}s" : $"{span.Seconds}s";

    /// <summary>An alert's text: a text payload as is, an object's <c>text</c> property, else the payload's JSON.</summary>
    internal static string AlertText(System.Text.Json.JsonElement payload) => payload.ValueKind switch
    {
        System.Text.Json.JsonValueKind.String => payload.GetString() ?? "",
        System.Text.Json.JsonValueKind.Object when payload.TryGetProperty("text", out var text) && text.ValueKind == System.Text.Json.JsonValueKind.String => text.GetString() ?? "",
        System.Text.Json.JsonValueKind.Undefined or System.Text.Json.JsonValueKind.Null => "",
        _ => payload.GetRawText(),
    };

    /// <summary>
    /// Creates the schema and seeds the demo users (every process that serves or runs tasks) and imports the vendor's
    /// devices (processes that run tasks).
    /// </summary>
    public static Task InitializeEnergyDataAsync(this IHost app, EnergyCommand command, CancellationToken cancellationToken = default) =>
        command.NeedsData
            ? app.Services.GetRequiredService<EnergySetup>().RunAsync(importDevices: command.RunsTasks, cancellationToken)
            : Task.CompletedTask;
}
