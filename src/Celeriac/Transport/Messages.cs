namespace Celeriac.Transport;

/// <summary>A message to store in a queue.</summary>
/// <param name="Id">Unique message id (the task id).</param>
/// <param name="Queue">Queue name.</param>
/// <param name="Priority">Higher runs first; 0 is the default.</param>
/// <param name="Body">The serialized envelope (JSON). The transport does not read it.</param>
/// <param name="VisibleAt">When the message may be received; <see langword="null"/> for now.</param>
/// <param name="IdempotencyKey">When set, the message is dropped if the key was taken and has not expired.</param>
/// <param name="IdempotencyExpiresAt">When the idempotency key is free again.</param>
public sealed record OutgoingMessage(
    string Id,
    string Queue,
    int Priority,
    string Body,
    DateTimeOffset? VisibleAt = null,
    string? IdempotencyKey = null,
    DateTimeOffset? IdempotencyExpiresAt = null);

/// <summary>A message held under a lease by one receiver.</summary>
/// <param name="Id">Message id.</param>
/// <param name="Queue">Queue it came from.</param>
/// <param name="Priority">Its priority.</param>
/// <param name="Body">The serialized envelope as stored; may be malformed.</param>
/// <param name="DeliveryCount">1 on the first delivery; higher after a lease ran out or a release.</param>
/// <param name="LeaseToken">Opaque proof of the lease, checked by ack, renew, release and dead-letter.</param>
public sealed record LeasedMessage(string Id, string Queue, int Priority, string Body, int DeliveryCount, string LeaseToken);

/// <summary>Why a message went to the dead-letter store.</summary>
/// <param name="Reason">
/// Short machine-friendly reason: <c>max-retries</c>, <c>malformed</c>, <c>unknown-task</c>, <c>bad-arguments</c>,
/// <c>too-large</c>, <c>failed</c>, or <c>corrupt-record</c> (the store's own record of the message was damaged: a
/// field missing or of the wrong type; the error message says which).
/// </param>
/// <param name="ErrorType">Exception type name, when there was one.</param>
/// <param name="ErrorMessage">Human-readable message.</param>
/// <param name="StackTrace">Stack trace, when there was one.</param>
public sealed record DeadLetterInfo(string Reason, string? ErrorType, string ErrorMessage, string? StackTrace)
{
    /// <summary>The reason given to a message whose stored record was damaged.</summary>
    public const string CorruptRecordReason = "corrupt-record";

    /// <summary>The dead-letter info of a damaged stored record, saying <paramref name="what"/> was wrong with it.</summary>
    public static DeadLetterInfo CorruptRecord(string what) => new(CorruptRecordReason, "CorruptRecord", what, null);
}

/// <summary>A message in the dead-letter store.</summary>
public sealed record DeadLetter(string Id, string Queue, string Body, int DeliveryCount, DeadLetterInfo Info, DateTimeOffset FailedAt);

/// <summary>Counts for one queue.</summary>
/// <param name="Queue">Queue name.</param>
/// <param name="Ready">Visible now.</param>
/// <param name="Delayed">Waiting for a countdown, ETA or retry time.</param>
/// <param name="Leased">Held by a worker.</param>
/// <param name="DeadLetters">Dead letters that came from this queue.</param>
/// <param name="OldestReadyAt">
/// When the message at the head of the queue (the next one a receiver gets) was first enqueued; <see langword="null"/>
/// when none is ready. Within one priority that is the oldest ready message: how far behind the consumers are.
/// </param>
public sealed record QueueStats(string Queue, long Ready, long Delayed, long Leased, long DeadLetters, DateTimeOffset? OldestReadyAt = null);
