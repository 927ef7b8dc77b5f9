namespace Celeriac;

/// <summary>What a subscription handler knows about the event it handles. Bind it by declaring an <see cref="EventContext"/> parameter.</summary>
public sealed class EventContext
{
    internal EventContext(string id, string subject, DateTimeOffset publishedAt, string? subscription, int deliveryCount, int retries)
    {
        Id = id; Subject = subject; PublishedAt = publishedAt; Subscription = subscription; DeliveryCount = deliveryCount; Retries = retries;
    }

    /// <summary>Event id, the same in every subscription that gets the event.</summary>
    public string Id { get; }
    /// <summary>The subject it was published on.</summary>
    public string Subject { get; }
    /// <summary>When it was published (the publisher's clock).</summary>
    public DateTimeOffset PublishedAt { get; }
    /// <summary>The durable subscription's name; <see langword="null"/> for an ephemeral one.</summary>
    public string? Subscription { get; }
    /// <summary>How often this event was delivered to this subscription (above 1 after a consumer died or a retry).</summary>
    public int DeliveryCount { get; }
    /// <summary>Retries so far (0 on the first try).</summary>
    public int Retries { get; }
}
