namespace Celeriac.Operations;

/// <summary>
/// Recent tasks and their stories, from the store's bounded journal (<see cref="PresenceOptions.JournalWindow"/>,
/// <see cref="PresenceOptions.JournalSize"/>): look a task up by id, search recent tasks by name and state.
/// </summary>
public interface ITaskHistory
{
    /// <summary>Every recorded event of a task, oldest first (sent, each delivery, retries with their errors, the outcome, requeues); empty when unknown or expired.</summary>
    ValueTask<IReadOnlyList<TaskEvent>> GetStoryAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>Recently active tasks, newest first, each as its latest event, filtered by task name and state.</summary>
    ValueTask<IReadOnlyList<TaskEvent>> FindRecentAsync(string? task = null, string? state = null, int limit = 100, CancellationToken cancellationToken = default);
}

/// <summary>One thing that happened to a task.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Task">Its name.</param>
/// <param name="Kind">One of <see cref="TaskEventKinds"/>.</param>
/// <param name="State">The task's state after it (a <c>TaskStates</c> name; <c>PENDING</c> when sent, <c>STARTED</c> when received).</param>
/// <param name="At">When.</param>
/// <param name="Queue">The queue involved.</param>
/// <param name="Process">The process it happened in.</param>
/// <param name="Delivery">The delivery count, for events of a run.</param>
/// <param name="Retries">Retries so far.</param>
/// <param name="Error">Exception type and message, for failures and retries.</param>
/// <param name="Detail">More: the retry time, the run time, the dead-letter reason.</param>
public sealed record TaskEvent(
    string TaskId,
    string Task,
    string Kind,
    string State,
    DateTimeOffset At,
    string? Queue = null,
    string? Process = null,
    int? Delivery = null,
    int Retries = 0,
    string? Error = null,
    string? Detail = null);

/// <summary>Names of <see cref="TaskEvent.Kind"/>.</summary>
public static class TaskEventKinds
{
    /// <summary>Sent to a queue.</summary>
    public const string Sent = "sent";
    /// <summary>A worker started a delivery.</summary>
    public const string Started = "started";
    /// <summary>Returned a result.</summary>
    public const string Succeeded = "succeeded";
    /// <summary>Failed and will be tried again.</summary>
    public const string Retried = "retried";
    /// <summary>Failed for good (dead-lettered).</summary>
    public const string Failed = "failed";
    /// <summary>Expired before a worker ran it.</summary>
    public const string Expired = "expired";
    /// <summary>Revoked.</summary>
    public const string Revoked = "revoked";
    /// <summary>Put back in its queue from the dead letters.</summary>
    public const string Requeued = "requeued";
}
