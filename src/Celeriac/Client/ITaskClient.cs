namespace Celeriac;

/// <summary>Sends tasks and reads their results. Registered by <c>AddCeleriac</c>; thread-safe.</summary>
public interface ITaskClient
{
    /// <summary>
    /// Sends <paramref name="task"/> to its queue. <paramref name="args"/> is serialized to JSON: an object (anonymous
    /// type, dictionary, record) gives keyword arguments, an array gives positional arguments, any other value one
    /// positional argument, <see langword="null"/> none.
    /// </summary>
    /// <exception cref="MessageTooLargeException">The message is over <see cref="CeleriacOptions.MaxMessageBytes"/>.</exception>
    ValueTask<TaskHandle> SendAsync(string task, object? args = null, Action<SendOptions>? configure = null, CancellationToken cancellationToken = default);

    /// <summary>Sends a prepared signature.</summary>
    ValueTask<TaskHandle> SendAsync(TaskSignature signature, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs the signatures one after another; each step's return value is put in front of the next step's positional
    /// arguments. The handle is the last step's. When a step fails, the steps after it are recorded as FAILURE.
    /// </summary>
    ValueTask<TaskHandle> ChainAsync(IReadOnlyList<TaskSignature> steps, CancellationToken cancellationToken = default);

    /// <summary>Sends all signatures at once to run in parallel; the handle awaits all their results.</summary>
    ValueTask<GroupHandle> GroupAsync(IReadOnlyList<TaskSignature> members, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes a task that still waits in its queue (ready or delayed): its message is deleted and its state becomes
    /// REVOKED (later chain steps become FAILURE). Returns <see langword="false"/> when the task is not waiting: a
    /// worker holds it (it runs), it finished, or the id is unknown.
    /// </summary>
    ValueTask<bool> RevokeAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>A handle for a task id sent earlier (by any process).</summary>
    TaskHandle GetHandle(string taskId);
}
