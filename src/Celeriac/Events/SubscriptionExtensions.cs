using Celeriac.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac;

/// <summary>Maps event subscriptions on a built host (a <c>WebApplication</c> or a generic host).</summary>
public static class SubscriptionHostExtensions
{
    /// <summary>
    /// Subscribes <paramref name="handler"/> to the subjects matching <paramref name="pattern"/> (<c>*</c> one token,
    /// <c>&gt;</c> the rest). Parameters bind as a task's: the payload binds to the first parameter that is not a
    /// <see cref="CancellationToken"/>, <see cref="EventContext"/>, <see cref="TaskContext"/> or service (a handler need not take it).
    /// <para>
    /// Without <paramref name="durable"/> the subscription is ephemeral: every process that maps it runs the handler
    /// for each event published while it is up; a failure is logged, not retried. With a <paramref name="durable"/>
    /// name the events are queued for it in the store from the first time a process mapping it starts, and workers
    /// consume that queue: acked after the handler returns, redelivered when a worker dies, retried with backoff
    /// (any exception, 3 times, by default) and then dead-lettered. Processes sharing a durable name share its events;
    /// each durable name gets every event.
    /// </para>
    /// </summary>
    public static SubscriptionBuilder MapSubscription(this IHost host, string pattern, Delegate handler, string? durable = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var registry = host.Services.GetService<SubscriptionRegistry>()
            ?? throw new InvalidOperationException("Call services.AddCeleriac(...) before MapSubscription.");
        return new SubscriptionBuilder(registry.Add(pattern, handler, durable));
    }
}
