using System.CommandLine;
using Celeriac.Events;
using Celeriac.Operations;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>all</c>, <c>web</c> and <c>worker</c> commands (<c>beat</c> is in its own file).</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildWorkerCommand()
    {
        var queues = new Option<string[]>("--queues", "-q")
        {
            Description = "Queues to consume, comma-separated or repeated (default: Celeriac:Worker:Queues, else 'default').",
            HelpName = "a,b",
            CustomParser = r =>
            {
                string[] names = [.. r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
                if (names.Length == 0) r.AddError("--queues needs at least one queue name.");
                return names;
            },
        };
        var concurrency = IntOption("--concurrency", "Tasks run at once (default: Celeriac:Worker:Concurrency, else 8).", min: 1, "-c");
        var prefetch = IntOption("--prefetch", "Messages leased ahead of free slots (default: Celeriac:Worker:Prefetch, else 8).", min: 0);

        var command = new Command("worker", "Run only the worker: consume queues and run tasks. The host is not started, so no web port is bound. Stops on Ctrl-C or SIGTERM.")
        {
            queues, concurrency, prefetch,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => RunWorkerAsync(parsed.GetValue(queues), parsed.GetValue(concurrency), parsed.GetValue(prefetch), ct)));
        return command;
    }

    /// <summary><c>all</c> and <c>web</c>: the whole host, with or without the worker and beat hosted services.</summary>
    private async Task<int> RunHostAsync(bool worker, CancellationToken cancellationToken)
    {
        try
        {
            var runtime = Services.GetRequiredService<CeleriacRuntime>();
            runtime.RunWorker = worker;
            runtime.RunBeat = worker;
            var beat = worker && Services.GetRequiredService<IOptions<BeatOptions>>().Value.Enabled;
            LogHostStarting(worker ? (beat ? "web + worker + beat" : "web + worker (beat disabled)") : "web only");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_cancellation, cancellationToken);
            await _host.RunAsync(stop.Token).ConfigureAwait(false);
            return CeleriacExitCodes.Success;
        }
        catch (OperationCanceledException) when (_cancellation.IsCancellationRequested || cancellationToken.IsCancellationRequested)
        {
            return CeleriacExitCodes.Success;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private async Task<int> RunWorkerAsync(string[]? queues, int? concurrency, int? prefetch, CancellationToken stoppingToken)
    {
        var runtime = Services.GetRequiredService<CeleriacRuntime>();
        var settings = runtime.Worker;
        if (queues is { Length: > 0 }) settings.Queues = [.. queues.Distinct(StringComparer.Ordinal)];
        if (concurrency is { } c) settings.Concurrency = c;
        if (prefetch is { } p) settings.Prefetch = p;
        var worker = Services.GetRequiredService<TaskWorker>();
        // Remote control's stop asks the host to stop: this command stops with it, as on SIGTERM.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, Services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? default);
        await using var operations = await StartOperationsAsync(stoppingToken).ConfigureAwait(false);
        // The event host saves this app's durable subscriptions and runs its ephemeral handlers, as in the whole host.
        var events = Services.GetRequiredService<EventHost>();
        await events.StartAsync(stoppingToken).ConfigureAwait(false);

        var queueList = string.Join(",", settings.Queues);
        LogWorkerStarting(queueList, settings.Concurrency, settings.Prefetch);
        using var onStop = stop.Token.Register(() => LogWorkerStopping(settings.ShutdownTimeout));
        await worker.RunAsync(settings, stop.Token).ConfigureAwait(false);
        await events.StopAsync(CancellationToken.None).ConfigureAwait(false);
        LogWorkerStopped(queueList);
        return CeleriacExitCodes.Success;
    }

    /// <summary>
    /// For <c>worker</c> and <c>beat</c>, which do not start the host: the task journal, this process's heartbeat and
    /// remote control, as the whole host runs them. Disposing stops them in reverse order (the heartbeat says goodbye).
    /// </summary>
    private async Task<IAsyncDisposable> StartOperationsAsync(CancellationToken cancellationToken)
    {
        IHostedService[] started = [Services.GetRequiredService<TaskJournal>(), Services.GetRequiredService<ProcessPresence>(), Services.GetRequiredService<ControlListener>()];
        foreach (var service in started) await service.StartAsync(cancellationToken).ConfigureAwait(false);
        return new StopInReverse(started);
    }

    private sealed class StopInReverse(IHostedService[] services) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var service in services.Reverse()) await service.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac starting: {Mode}")]
    private partial void LogHostStarting(string mode);

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac worker started (worker only, no web server): queues {Queues}, concurrency {Concurrency}, prefetch {Prefetch}. Press Ctrl-C to stop")]
    private partial void LogWorkerStarting(string queues, int concurrency, int prefetch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac worker stopping; running tasks get {ShutdownTimeout} to finish")]
    private partial void LogWorkerStopping(TimeSpan shutdownTimeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "Celeriac worker stopped (queues {Queues})")]
    private partial void LogWorkerStopped(string queues);
}
