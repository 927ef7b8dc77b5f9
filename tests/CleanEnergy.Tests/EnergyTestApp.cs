using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using CleanEnergy.Data;
using CleanEnergy.VendorCloud;
using Celeriac;
using Celeriac.Transport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CleanEnergy.Tests;

/// <summary>
/// The application as the tests run it: the real vendor simulator in-process on 127.0.0.1:0, a generic host with the
/// app's domain, tasks and alert forwarding on real SQLite files in a temp directory (the energy database and the
/// Celeriac queue), and the worker running. Short retry backoffs come from configuration, as an operator would set them.
/// Given a <see cref="PostgresServer"/>, the energy database is a fresh PostgreSQL database on it instead (the queue
/// stays on SQLite): the app picks the provider from the connection string, as in production.
/// </summary>
internal sealed class EnergyTestApp : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;
    private readonly bool _postgres;

    private EnergyTestApp(DirectoryInfo directory, VendorCloudHandle vendor, IHost host, bool postgres)
    {
        _directory = directory;
        _postgres = postgres;
        Vendor = vendor;
        Host = host;
        Admin = new HttpClient { BaseAddress = vendor.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public VendorCloudHandle Vendor { get; }
    public IHost Host { get; }
    /// <summary>A plain client for the simulator's API and admin endpoints.</summary>
    public HttpClient Admin { get; }
    public ITaskClient Tasks => Host.Services.GetRequiredService<ITaskClient>();
    public IEventBus Events => Host.Services.GetRequiredService<IEventBus>();
    public IChannelLayer Channels => Host.Services.GetRequiredService<IChannelLayer>();

    public static async Task<EnergyTestApp> StartAsync(int maxRetries = 15, TimeProvider? vendorClock = null, IDictionary<string, string?>? settings = null,
        PostgresServer? postgres = null)
    {
        var directory = Directory.CreateTempSubdirectory("cleanenergy-tests-");
        var energy = postgres is null
            ? $"Data Source={Path.Combine(directory.FullName, "energy.db")}"
            : await postgres.CreateDatabaseAsync();
        var vendor = await VendorCloudServer.StartAsync(new VendorCloudOptions
        {
            Seed = 42,
            TimeProvider = vendorClock,
            ConfigureLogging = l => l.ClearProviders(),
        });
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = directory.FullName,
            EnvironmentName = Environments.Development,   // validates the container on build
        });
        builder.Logging.ClearProviders();
        var configuration = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Energy"] = energy,
            ["Vendor:BaseUrl"] = vendor.BaseAddress.ToString(),
            ["Vendor:TimeoutSeconds"] = "1",
            ["Energy:Retry:MaxRetries"] = maxRetries.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Energy:Retry:Backoff"] = "00:00:00.005",
            ["Energy:Retry:MaxBackoff"] = "00:00:00.050",
            ["Celeriac:Worker:Concurrency"] = "8",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) configuration[key] = value;
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddCeleriac(c => c.UseSqlite(Path.Combine(directory.FullName, "celeriac.db")));
        builder.AddEnergyDomain();

        var host = builder.Build();
        host.MapEnergyTasks();
        host.MapEnergyAlertForwarding();
        await host.InitializeEnergyDataAsync(new EnergyCommand("all"));
        await host.StartAsync();
        return new EnergyTestApp(directory, vendor, host, EnergyDatabase.IsPostgres(configuration["ConnectionStrings:Energy"]));
    }

    /// <summary>A database context in its own scope (dispose the scope with it).</summary>
    public (AsyncServiceScope Scope, EnergyDb Db) Db()
    {
        var scope = Host.Services.CreateAsyncScope();
        return (scope, scope.ServiceProvider.GetRequiredService<EnergyDb>());
    }

    public async Task<T> WithDbAsync<T>(Func<EnergyDb, Task<T>> action)
    {
        await using var scope = Host.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<EnergyDb>());
    }

    public async Task<T> WithServiceAsync<TService, T>(Func<TService, Task<T>> action) where TService : notnull
    {
        await using var scope = Host.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<TService>());
    }

    public Task<List<Device>> DevicesAsync() => WithDbAsync(db => db.Devices.AsNoTracking().OrderBy(d => d.Id).ToListAsync());

    /// <summary>Sends a task and waits for its final state.</summary>
    public async Task<TaskResult> RunAsync(string task, object? args = null, Action<SendOptions>? configure = null, double timeoutSeconds = 30)
    {
        var handle = await Tasks.SendAsync(task, args, configure);
        return await WaitAsync(handle.Id, timeoutSeconds);
    }

    public async Task<TaskResult> WaitAsync(string taskId, double timeoutSeconds = 30)
    {
        var result = await Tasks.GetHandle(taskId).WaitAsync(TimeSpan.FromSeconds(timeoutSeconds));
        Assert.True(result is not null && TaskStates.IsTerminal(result.State), $"Task {taskId} did not finish in {timeoutSeconds} s (state {result?.State ?? "PENDING"}).");
        return result!;
    }

    /// <summary>Runs a task that must succeed and returns its result.</summary>
    public async Task<T> RunOkAsync<T>(string task, object? args = null, Action<SendOptions>? configure = null)
    {
        var result = await RunAsync(task, args, configure);
        Assert.True(result.State == TaskStates.Success, $"{task} ended {result.State}: {result.Error?.Type}: {result.Error?.Message}");
        return JsonSerializer.Deserialize<T>(result.Result!, Json)!;
    }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task SetGridAsync(string mode) =>
        (await Admin.PutAsJsonAsync("admin/grid", new { mode })).EnsureSuccessStatusCode();

    public async Task SetTroubleAsync(object trouble) =>
        (await Admin.PutAsJsonAsync("admin/trouble", trouble)).EnsureSuccessStatusCode();

    public async Task SetOfflineAsync(string vendorId, bool offline) =>
        (await Admin.PutAsJsonAsync($"admin/devices/{vendorId}/offline", new { offline })).EnsureSuccessStatusCode();

    /// <summary>The devices' on/off state as the vendor's cloud has it (call with no trouble set).</summary>
    public async Task<Dictionary<string, bool>> VendorStatesAsync()
    {
        var list = await Admin.GetFromJsonAsync<List<JsonElement>>("api/v1/devices", Json);
        return list!.ToDictionary(d => d.GetProperty("vendorId").GetString()!, d => d.GetProperty("on").GetBoolean());
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Host.StopAsync(TimeSpan.FromSeconds(10));
        if (Host is IAsyncDisposable disposable) await disposable.DisposeAsync(); else Host.Dispose();
        await Vendor.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_postgres) Npgsql.NpgsqlConnection.ClearAllPools();
        try { _directory.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Collects what an ephemeral subscription sees, from the moment <see cref="StartAsync"/> returns.</summary>
internal sealed class EventRecorder : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<EventMessage> _events = new();
    private Task? _loop;

    public IReadOnlyList<EventMessage> Events => [.. _events];

    /// <summary>Listens on <paramref name="pattern"/> (and on a marker subject, published until seen, so nothing is missed after this returns).</summary>
    public static async Task<EventRecorder> StartAsync(IEventBus bus, string pattern)
    {
        var recorder = new EventRecorder();
        var marker = $"test.marker.{Guid.NewGuid():N}";
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        recorder._loop = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in bus.SubscribeAsync(">", recorder._stop.Token))
                {
                    if (e.Subject == marker) seen.TrySetResult();
                    else if (EventSubjects.Matches(pattern, e.Subject)) recorder._events.Enqueue(e);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!seen.Task.IsCompleted)
        {
            await bus.PublishAsync(marker, null, deadline.Token);
            await Task.WhenAny(seen.Task, Task.Delay(100, deadline.Token));
        }
        return recorder;
    }

    /// <summary>Waits until the recorded events satisfy <paramref name="condition"/>.</summary>
    public async Task WaitForAsync(Func<IReadOnlyList<EventMessage>, bool> condition, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!condition(Events))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The expected events did not arrive in {timeoutSeconds} s; got: {string.Join(", ", Events.Select(e => e.Subject))}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        _stop.Dispose();
    }
}

/// <summary>Collects the messages sent to a channel-layer group.</summary>
internal sealed class GroupRecorder : IAsyncDisposable
{
    private readonly ConcurrentQueue<GroupMessage> _messages = new();
    private IAsyncDisposable? _subscription;

    public IReadOnlyList<GroupMessage> Messages => [.. _messages];

    public static async Task<GroupRecorder> StartAsync(IChannelLayer channels, string group)
    {
        var recorder = new GroupRecorder();
        recorder._subscription = await channels.SubscribeAsync(group, m =>
        {
            recorder._messages.Enqueue(m);
            return ValueTask.CompletedTask;
        });
        return recorder;
    }

    /// <summary>
    /// For the <c>alerts</c> group: publishes <c>alerts.test.ready</c> until it comes through, so the app's ephemeral
    /// forwarding subscription is surely listening before the test acts.
    /// </summary>
    public async Task WaitUntilForwardingAsync(IEventBus events)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!Messages.Any(m => m.Message.GetProperty("subject").GetString() == "alerts.test.ready"))
        {
            Assert.True(DateTime.UtcNow < deadline, "The alert forwarding did not start in 10 s.");
            await events.PublishAsync("alerts.test.ready", "ready");
            await Task.Delay(100);
        }
    }

    public async Task<GroupMessage> WaitForAsync(Func<GroupMessage, bool> match, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            if (Messages.FirstOrDefault(match) is { } found) return found;
            Assert.True(DateTime.UtcNow < deadline, $"No matching group message in {timeoutSeconds} s; got: {string.Join(", ", Messages.Select(m => m.Type))}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_subscription is not null) await _subscription.DisposeAsync();
    }
}
