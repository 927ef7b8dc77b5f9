namespace Celeriac.Transport;

/// <summary>
/// Stores task states and results. Writes of a terminal state wake every waiter for that id
/// (in this process at once; in other processes as soon as the store can tell them).
/// </summary>
public interface IResultStore
{
    /// <summary>Writes (replaces) the record for <see cref="TaskResult.Id"/>; kept until <paramref name="expiresAt"/>.</summary>
    ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default);

    /// <summary>The stored record, or <see langword="null"/> when none is stored (state PENDING) or it expired.</summary>
    ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until the record for <paramref name="id"/> is in a terminal state (see <see cref="TaskStates.IsTerminal"/>)
    /// and returns it; returns the latest record (or <see langword="null"/>) when <paramref name="timeout"/> passes first.
    /// </summary>
    ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>The stored state of one task.</summary>
/// <param name="Id">Task id.</param>
/// <param name="Task">Task name.</param>
/// <param name="State">One of <see cref="TaskStates"/>.</param>
/// <param name="Result">The return value as JSON, on success.</param>
/// <param name="Error">What went wrong, on failure, retry or expiry.</param>
/// <param name="Retries">Retries so far.</param>
/// <param name="UpdatedAt">When this state was written.</param>
public sealed record TaskResult(string Id, string Task, string State, string? Result, TaskError? Error, int Retries, DateTimeOffset UpdatedAt);

/// <summary>An error stored with a task.</summary>
/// <param name="Type">Exception type name (or a reason such as <c>BindingError</c>).</param>
/// <param name="Message">Human-readable message.</param>
/// <param name="StackTrace">Stack trace, when there was one.</param>
public sealed record TaskError(string Type, string Message, string? StackTrace);

/// <summary>Task states, named as Celery names them.</summary>
public static class TaskStates
{
    /// <summary>Unknown to the store: not sent, not yet received, or its result expired.</summary>
    public const string Pending = "PENDING";
    /// <summary>A worker received the message. Celery's name, kept for readers of the store; the worker does not write it.</summary>
    public const string Received = "RECEIVED";
    /// <summary>A worker started running it; stored only when <see cref="WorkerOptions.TrackStarted"/> is set.</summary>
    public const string Started = "STARTED";
    /// <summary>It failed and waits for another try.</summary>
    public const string Retry = "RETRY";
    /// <summary>It returned; <see cref="TaskResult.Result"/> holds the value.</summary>
    public const string Success = "SUCCESS";
    /// <summary>It failed for good; <see cref="TaskResult.Error"/> says why.</summary>
    public const string Failure = "FAILURE";
    /// <summary>Its expiry passed before a worker could run it.</summary>
    public const string Expired = "EXPIRED";
    /// <summary>It was revoked before it ran.</summary>
    public const string Revoked = "REVOKED";

    /// <summary>Whether no further state will follow.</summary>
    public static bool IsTerminal(string state) =>
        state is Success or Failure or Expired or Revoked;
}
