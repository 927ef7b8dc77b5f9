using CleanEnergy.Contracts;
using Celeriac;
using Celeriac.Transport;

namespace CleanEnergy.Replica.Users;

/// <summary>
/// A durable subscription gets what is published after it was first saved; users the master made before the replica
/// first started would reach it only when next edited. At start, once "replica" is saved in the store, this asks the
/// master for a copy of every user (the task <see cref="UserChanged.RepublishAllTask"/>, run by the master's workers).
/// Versions make the repeats harmless.
/// </summary>
internal sealed partial class CatchUp(IEventStore events, ITaskClient tasks, TimeProvider time, ILogger<CatchUp> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!(await events.GetSubscriptionsAsync(stoppingToken)).Any(s => s.Name == UserReplication.DurableName))
                await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken);
            // One request per minute at most, however many replica processes start together.
            var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
            await tasks.SendAsync(UserChanged.RepublishAllTask, null, o => o.IdempotencyKey = $"replica-catch-up:{minute}", stoppingToken);
            LogAsked(logger);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Asked the master to republish every user (users created before this replica first started)")]
    private static partial void LogAsked(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not ask the master to republish its users; they arrive when next edited")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
