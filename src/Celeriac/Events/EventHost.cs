using System.Diagnostics;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.Events;

/// <summary>
/// Runs in every process role: saves this process's durable subscriptions in the store (so events are queued for
/// them from then on, whether a consumer runs or not; the worker consumes their queues), and runs each ephemeral
/// subscription's handler for the events published while the process is up, one at a time per subscription.
/// </summary>
internal sealed partial class EventHost(
    SubscriptionRegistry subscriptions,
    EventBus bus,
    IServiceScopeFactory scopes,
    TimeProvider time,
    ILogger<EventHost> logger) : BackgroundService
{
    /// <summary>Pauses between tries after the store failed: 400 ms, doubling, at most 10 s.</summary>
    private static readonly RetryPolicy Reconnect = new() { Backoff = TimeSpan.FromMilliseconds(200), MaxBackoff = TimeSpan.FromSeconds(10), Jitter = false };

    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the durable subscriptions are saved.</summary>
    public Task Registered => _registered.Task;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = subscriptions.Ephemeral.Select(s => Task.Run(() => ListenAsync(s, stoppingToken), CancellationToken.None)).ToList();
        loops.Add(RegisterAsync(stoppingToken));
        return Task.WhenAll(loops);
    }

    private async Task RegisterAsync(CancellationToken stoppingToken)
    {
        var durable = subscriptions.Durable;
        if (durable.Count == 0)
        {
            _registered.TrySetResult();
            return;
        }
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                var now = time.GetUtcNow();
                foreach (var s in durable)
                    await bus.Store.SaveSubscriptionAsync(new DurableSubscription(s.Durable!, s.Pattern, s.Queue!, now), stoppingToken).ConfigureAwait(false);
                LogRegistered(durable.Count, string.Join(", ", durable.Select(s => $"{s.Durable} ({s.Pattern})")));
                _registered.TrySetResult();
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var pause = Reconnect.DelayFor(attempt, 0);
                LogRegisterFailed(e, pause);
                try { await Task.Delay(pause, time, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private async Task ListenAsync(SubscriptionDefinition subscription, CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await foreach (var message in bus.SubscribeAsync(subscription.Pattern, stoppingToken).ConfigureAwait(false))
                {
                    attempt = 1;
                    await HandleAsync(subscription, message, stoppingToken).ConfigureAwait(false);
                }
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The store's feed broke (a dropped connection): listen again after a pause; events in the gap are not seen.
                var pause = Reconnect.DelayFor(attempt, 0);
                LogListenFailed(e, subscription.Pattern, pause);
                try { await Task.Delay(pause, time, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>Runs an ephemeral handler once; a failure is logged (ephemeral events are not retried nor kept).</summary>
    internal async Task HandleAsync(SubscriptionDefinition subscription, EventMessage message, CancellationToken stoppingToken)
    {
        var handler = subscription.Handler;
        var parent = message.TraceParent is { } traceParent && ActivityContext.TryParse(traceParent, null, isRemote: true, out var published) ? published : default;
        using var activity = CeleriacDiagnostics.Source.StartActivity("celeriac.event " + message.Subject, ActivityKind.Consumer, parent);
        activity?.SetTag("celeriac.event.id", message.Id);
        try
        {
            var context = new TaskContext(message.Id, message.Subject, 0, 1, null, null, message.Id, null, "", stoppingToken)
            {
                Event = new EventContext(message.Id, message.Subject, message.PublishedAt, null, 1, 0),
            };
            await using var scope = scopes.CreateAsyncScope();
            var values = handler.Invoker.Bind(scope.ServiceProvider, context, message.Args, null);
            await handler.Invoker.InvokeAsync(values).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            LogHandlerFailed(e, subscription.Pattern, message.Subject, message.Id);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Saved {Count} durable subscription(s): {Subscriptions}")]
    private partial void LogRegistered(int count, string subscriptions);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not save the durable subscriptions; trying again in {Pause}")]
    private partial void LogRegisterFailed(Exception exception, TimeSpan pause);

    [LoggerMessage(Level = LogLevel.Error, Message = "Listening on {Pattern} failed; listening again in {Pause}")]
    private partial void LogListenFailed(Exception exception, string pattern, TimeSpan pause);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ephemeral subscription {Pattern} failed on event {Subject} ({EventId}); not retried")]
    private partial void LogHandlerFailed(Exception exception, string pattern, string subject, string eventId);
}
