namespace Celeriac.Transport;

/// <summary>
/// The narrow set of primitives a broker provides: enqueue, receive with a lease, ack, release (retry at a time),
/// dead-letter, and the inspection calls the command line needs. Retries, backoff, expiry and routing live in the
/// core; a transport only moves opaque message bodies between queues.
/// </summary>
/// <remarks>
/// Delivery is at-least-once: a received message stays in the store, hidden by a lease, until it is acked,
/// released or dead-lettered. When a lease runs out the message becomes visible again with a higher
/// <see cref="LeasedMessage.DeliveryCount"/>. Calls made with a stale lease (one that expired and was re-leased)
/// are ignored and return <see langword="false"/>.
/// </remarks>
public interface ITaskTransport
{
    /// <summary>
    /// Stores messages. Returns, per message, the id it is known under: its own id, or, when its idempotency key was
    /// taken and has not expired, the id of the message that took the key (and this one is dropped).
    /// </summary>
    ValueTask<string[]> EnqueueAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>
    /// Leases up to <paramref name="maxMessages"/> visible messages from <paramref name="queues"/>, highest priority first,
    /// first in first out within a priority. Waits until at least one is available or <paramref name="maxWait"/> passes,
    /// and returns an empty list then.
    /// </summary>
    ValueTask<IReadOnlyList<LeasedMessage>> ReceiveAsync(IReadOnlyList<string> queues, int maxMessages, TimeSpan lease, TimeSpan maxWait, CancellationToken cancellationToken = default);

    /// <summary>Removes a leased message for good.</summary>
    ValueTask<bool> AckAsync(LeasedMessage message, CancellationToken cancellationToken = default);

    /// <summary>Extends the lease of messages still being worked on. Returns the ones whose lease was lost.</summary>
    ValueTask<IReadOnlyList<LeasedMessage>> RenewAsync(IReadOnlyList<LeasedMessage> messages, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Gives a leased message back: visible again at <paramref name="visibleAt"/> (now when <see langword="null"/>), with a new body when one is given.</summary>
    ValueTask<bool> ReleaseAsync(LeasedMessage message, DateTimeOffset? visibleAt, string? newBody, CancellationToken cancellationToken = default);

    /// <summary>Moves a leased message to the dead-letter store with the reason it could not be run.</summary>
    ValueTask<bool> DeadLetterAsync(LeasedMessage message, DeadLetterInfo info, CancellationToken cancellationToken = default);

    /// <summary>Depth of every known queue: ready, delayed and leased messages.</summary>
    ValueTask<IReadOnlyList<QueueStats>> GetQueueStatsAsync(CancellationToken cancellationToken = default);

    /// <summary>The newest dead letters, at most <paramref name="limit"/>.</summary>
    ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default);

    /// <summary>The newest dead letter of task <paramref name="id"/>, or <see langword="null"/> when there is none.</summary>
    ValueTask<DeadLetter?> GetDeadLetterAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// In one step: removes the dead letters of task <paramref name="id"/> and enqueues a fresh message of the same id,
    /// ready now, on the queue of the newest of them, with <paramref name="newBody"/> and priority 0 (the dead-letter
    /// store does not keep priorities); a stored message of that id is replaced, as by an enqueue. Returns
    /// <see langword="false"/> (and changes nothing) when there is no dead letter of that id.
    /// </summary>
    ValueTask<bool> RequeueDeadLetterAsync(string id, string newBody, CancellationToken cancellationToken = default);

    /// <summary>Deletes the dead letters of task <paramref name="id"/>. Returns <see langword="false"/> when there were none.</summary>
    ValueTask<bool> DeleteDeadLetterAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Deletes the message <paramref name="id"/> when no worker holds it. Returns its body, or <see langword="null"/> when it is leased or unknown.</summary>
    ValueTask<string?> RemoveAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Deletes every message of a queue that is not leased. Returns how many were removed.</summary>
    ValueTask<long> PurgeAsync(string queue, CancellationToken cancellationToken = default);
}
