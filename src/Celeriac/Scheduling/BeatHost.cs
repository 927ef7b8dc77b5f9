using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.Scheduling;

/// <summary>
/// Runs the <see cref="BeatScheduler"/> as a hosted service when this process runs beat (<c>all</c>, or a host run
/// without the command line). Without a schedule store it does nothing (and says so when schedules are mapped).
/// </summary>
internal sealed partial class BeatHost(IServiceProvider services, CeleriacRuntime runtime, ScheduleRegistry registry, Microsoft.Extensions.Options.IOptions<BeatOptions> options, ILogger<BeatHost> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!runtime.RunBeat || !options.Value.Enabled) return Task.CompletedTask;
        if (services.GetService<IScheduleStore>() is null)
        {
            if (registry.All.Count > 0) LogNoStore(registry.All.Count);
            return Task.CompletedTask;
        }
        return services.GetRequiredService<BeatScheduler>().RunAsync(stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Beat: {Count} schedule(s) are mapped but the transport keeps no schedules (no IScheduleStore); they will not fire. Use c.UseSqlite(...) or c.UseInMemory()")]
    private partial void LogNoStore(int count);
}
