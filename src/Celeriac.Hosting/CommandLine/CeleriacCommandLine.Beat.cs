using System.CommandLine;
using Celeriac.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>beat</c> command: run only the scheduler.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildBeatCommand()
    {
        var command = new Command("beat",
            "Run only the scheduler: compete with the other beat processes to lead and, while leading, send each schedule's task once per tick. "
            + "The host is not started, so no web port is bound and no task runs here. Stops on Ctrl-C or SIGTERM, handing the lead over at once.");
        command.SetAction((_, _) => GuardAsync(RunBeatAsync));
        return command;
    }

    private async Task<int> RunBeatAsync(CancellationToken stoppingToken)
    {
        var options = Services.GetRequiredService<IOptions<BeatOptions>>().Value;   // validates
        if (!options.Enabled)
            throw new InvalidOperationException("Beat is disabled for this app (BeatOptions.Enabled = false, Celeriac:Beat:Enabled): it must not run a scheduler on this store.");
        var manager = Services.GetRequiredService<ScheduleManager>();
        _ = manager.Store;                                                           // a clear error when there is none
        WarnIfInMemory();
        var scheduler = Services.GetRequiredService<BeatScheduler>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, Services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? default);
        await using var operations = await StartOperationsAsync(stoppingToken).ConfigureAwait(false);
        LogBeatStarting(Services.GetRequiredService<ScheduleRegistry>().All.Count, options.LeaderLease);
        using var onStop = stop.Token.Register(LogBeatStopping);
        await scheduler.RunAsync(stop.Token).ConfigureAwait(false);
        LogBeatStopped();
        return CeleriacExitCodes.Success;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac beat started (scheduler only, no web server, no worker): {Count} code schedule(s), leader lease {Lease}. Press Ctrl-C to stop")]
    private partial void LogBeatStarting(int count, TimeSpan lease);

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac beat stopping; handing over the lead")]
    private partial void LogBeatStopping();

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac beat stopped")]
    private partial void LogBeatStopped();
}
