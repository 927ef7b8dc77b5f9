namespace Celeriac;

/// <summary>Publishes events and listens to them. Registered by <c>AddCeleriac</c>; thread-safe.</summary>
public interface IEventBus
{
    /// <summary>
    /// Publishes <paramref name="payload"/> (serialized to JSON) on <paramref name="subject"/>: it is queued for every
    /// durable subscription whose pattern matches, in one atomic step, and handed to the ephemeral listeners of every process.
    /// </summary>
    /// <exception cref="ArgumentException">The subject is not valid (see <see cref="EventSubjects"/>).</exception>
    /// <exception cref="MessageTooLargeException">The event is over <see cref="CeleriacOptions.MaxMessageBytes"/>.</exception>
    ValueTask<PublishReceipt> PublishAsync(string subject, object? payload = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ephemeral: the events published from now on whose subject matches <paramref name="pattern"/>, until
    /// <paramref name="cancellationToken"/> fires (the enumeration then just ends). Nothing is kept for a listener that is not listening.
    /// </summary>
    /// <exception cref="ArgumentException">The pattern is not valid.</exception>
    IAsyncEnumerable<EventMessage> SubscribeAsync(string pattern, CancellationToken cancellationToken = default);
}
