using CleanEnergy.VendorCloud.Admin;
using CleanEnergy.VendorCloud.Devices;
using CleanEnergy.VendorCloud.Grid;
using CleanEnergy.VendorCloud.Http;
using CleanEnergy.VendorCloud.Trouble;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace CleanEnergy.VendorCloud;

/// <summary>
/// Builds and starts the simulated vendor cloud. The standalone app (<c>Program.cs</c>) and
/// <see cref="StartAsync"/> share one setup, <see cref="Configure"/>; they differ only in where options and
/// configuration come from: the standalone app reads its configuration as any ASP.NET Core app does, while the
/// in-process server ignores the host process's files and environment (its <c>appsettings.json</c>,
/// <c>ASPNETCORE_URLS</c>) and takes everything from <see cref="VendorCloudOptions"/>.
/// </summary>
public static partial class VendorCloudServer
{
    /// <summary>Where the standalone app listens when no <c>--urls</c> (or <c>urls</c> setting) is given.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5081";

    /// <summary>
    /// Starts a vendor cloud in this process on its own port (by default a free loopback port) and returns once it
    /// accepts calls. Dispose the handle to stop it.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public static async Task<VendorCloudHandle> StartAsync(VendorCloudOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfInvalid(options);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(VendorCloudServer).Assembly.GetName().Name,
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection([new("urls", options.Urls)]);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        var app = Configure(builder, options);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) ?? addresses.First();
            return new VendorCloudHandle(app, new Uri(address.TrimEnd('/') + "/"));
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The standalone app: options from the <c>VendorCloud</c> section, <see cref="DefaultUrl"/> unless told otherwise.</summary>
    internal static WebApplication CreateApplication(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var options = new VendorCloudOptions();
        builder.Configuration.GetSection(VendorCloudOptions.SectionName).Bind(options);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
            builder.WebHost.UseUrls(DefaultUrl);
        ThrowIfInvalid(options);
        return Configure(builder, options);
    }

    /// <summary>The one setup: services, middleware and endpoints.</summary>
    private static WebApplication Configure(WebApplicationBuilder builder, VendorCloudOptions options)
    {
        var time = options.TimeProvider ?? TimeProvider.System;
        var seed = options.Seed ?? Random.Shared.Next();
        var zone = GridControl.ResolveZone(options.TimeZone);
        var fleet = new DeviceFleet(DeviceCatalog.Create(options.DeviceCount, seed), seed, time);
        var trouble = new TroubleControl(options.Trouble, fleet.Ids, seed);
        var grid = new GridControl(seed, zone, time);
        var calls = new CallLog(options.CallLogCapacity);

        // The clock is handed to our own types only, never registered as TimeProvider: ASP.NET Core's own parts
        // (Kestrel's timeouts) must keep real time when tests pass a fake clock.
        builder.Services.AddSingleton(fleet);
        builder.Services.AddSingleton(trouble);
        builder.Services.AddSingleton(grid);
        builder.Services.AddSingleton(calls);
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => VendorJson.Configure(o.SerializerOptions));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        options.ConfigureLogging?.Invoke(builder.Logging);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRouting();
        app.UseMiddleware<TroubleMiddleware>(time);

        app.MapGet("/", () => Results.Text(Index, "text/plain"));
        app.MapDeviceEndpoints();
        app.MapGridEndpoints();
        app.MapAdminEndpoints();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(VendorCloudServer));
        app.Lifetime.ApplicationStarted.Register(() =>
            LogStarted(logger, string.Join(", ", app.Urls), fleet.All.Count, seed, zone.Id, trouble.Current));
        return app;
    }

    private static void ThrowIfInvalid(VendorCloudOptions options)
    {
        var errors = options.Validate().ToList();
        if (errors.Count > 0)
            throw new ArgumentException("Invalid vendor cloud options: " + string.Join(" ", errors), nameof(options));
    }

    private const string Index = """
        CleanEnergy vendor cloud (simulator)
          GET  /api/v1/devices                       the fleet
          GET  /api/v1/devices/{vendorId}            status and readings
          POST /api/v1/devices/{vendorId}/power      {"on": true}
          PUT  /api/v1/devices/{vendorId}/settings   {"targetTemperature": 20.5}
          GET  /api/v1/grid/intensity                grid carbon intensity, gCO2/kWh
          GET|PUT /admin/trouble                     {"failureRate": 0.3, "timeoutRate": 0.1, "latencyMs": {"min": 20, "max": 200}}
          GET  /admin/devices                        every device as it really is (no trouble)
          PUT  /admin/devices/{vendorId}/offline     {"offline": true}
          GET|PUT /admin/grid                        {"intensity": 120} or {"mode": "clean" | "dirty" | "auto"}
          GET|DELETE /admin/calls                    the last API calls (?limit=50)

        """;

    [LoggerMessage(Level = LogLevel.Information, Message = "Vendor cloud on {Address}: {Devices} devices, seed {Seed} (set VendorCloud:Seed to repeat), grid time zone {Zone}, trouble: {Trouble}")]
    private static partial void LogStarted(ILogger logger, string address, int devices, int seed, string zone, TroubleSettings trouble);
}
