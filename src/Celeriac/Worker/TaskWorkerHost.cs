using Microsoft.Extensions.Hosting;

namespace Celeriac.Worker;

/// <summary>Runs the <see cref="TaskWorker"/> as a hosted service when this process runs a worker.</summary>
internal sealed class TaskWorkerHost(TaskWorker worker, CeleriacRuntime runtime) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        runtime.RunWorker ? worker.RunAsync(runtime.Worker, stoppingToken) : Task.CompletedTask;
}
