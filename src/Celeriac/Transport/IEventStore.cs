namespace Celeriac.Transport;

/// <summary>
/// What a store provides for events: the registry of durable subscriptions, a publish that fans an event out into
/// the queue of every matching durable subscription, and a live feed for ephemeral listeners. The queues are the
/// task transport's queues, so durable events get its leases, retries and dead letters.
/// </summary>
public interface IEventStore
{
    /// <summary>
    /// Creates or replaces the durable subscription <see cref="DurableSubscription.Name"/>. From the moment this
    /// returns, every published event whose subject matches its pattern is queued for it, whether a consumer runs or not.
    /// </summary>
    ValueTask SaveSubscriptionAsync(DurableSubscription subscription, CancellationToken cancellationToken = default);

    /// <summary>Forgets a durable subscription (its queued messages stay until purged). Returns whether it existed.</summary>
    ValueTask<bool> DeleteSubscriptionAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every durable subscription, by name.</summary>
    ValueTask<IReadOnlyList<DurableSubscription>> GetSubscriptionsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// In one atomic step, enqueues <see cref="PublishedEvent.Body"/> into the queue of every durable subscription whose
    /// pattern matches <see cref="PublishedEvent.Subject"/> (message id <c>{event id}:{subscription name}</c>, priority 0,
    /// visible now), and hands the event to every live listener (<see cref="ListenAsync"/>) of any process.
    /// Returns the names of the subscriptions it was queued for.
    /// </summary>
    ValueTask<IReadOnlyList<string>> PublishAsync(PublishedEvent published, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every event published (by any process sharing the store) from about the moment this is called until
    /// <paramref name="cancellationToken"/> fires, in publish order. Best effort: a listener that falls far behind may miss events.
    /// </summary>
    IAsyncEnumerable<PublishedEvent> ListenAsync(CancellationToken cancellationToken);
}

/// <summary>A durable subscription: events matching <paramref name="Pattern"/> are queued into <paramref name="Queue"/>.</summary>
/// <param name="Name">Unique name (<c>replica-eu</c>).</param>
/// <param name="Pattern">Subject pattern with NATS wildcards (<c>users.*</c>, <c>alerts.&gt;</c>).</param>
/// <param name="Queue">The task-transport queue that holds its events.</param>
/// <param name="CreatedAt">When it was first saved.</param>
public sealed record DurableSubscription(string Name, string Pattern, string Queue, DateTimeOffset CreatedAt);

/// <summary>An event as stores move it.</summary>
/// <param name="Id">Unique event id.</param>
/// <param name="Subject">Its subject (<c>alerts.disk.full</c>).</param>
/// <param name="Body">The serialized envelope (JSON); stores do not read it.</param>
public sealed record PublishedEvent(string Id, string Subject, string Body);
