using System.Text.Json;
using Celeriac.Messaging;
using Celeriac.Transport;

namespace Celeriac;

/// <summary>A sent task: its id, its state, and a way to await its result.</summary>
public sealed class TaskHandle
{
    private readonly IResultStore _results;

    internal TaskHandle(string id, IResultStore results, bool duplicate = false)
    {
        Id = id;
        _results = results;
        WasDuplicate = duplicate;
    }

    /// <summary>The task id.</summary>
    public string Id { get; }

    /// <summary>True when the send was dropped because its idempotency key was already taken.</summary>
    public bool WasDuplicate { get; }

    /// <summary>The current state (<see cref="TaskStates"/>); PENDING when nothing is stored yet.</summary>
    public async ValueTask<string> GetStateAsync(CancellationToken cancellationToken = default) =>
        (await _results.GetAsync(Id, cancellationToken).ConfigureAwait(false))?.State ?? TaskStates.Pending;

    /// <summary>The stored record, or <see langword="null"/> while PENDING.</summary>
    public ValueTask<TaskResult?> GetResultAsync(CancellationToken cancellationToken = default) =>
        _results.GetAsync(Id, cancellationToken);

    /// <summary>Waits for a terminal state and returns the record; <see langword="null"/> or a non-terminal record on timeout.</summary>
    public ValueTask<TaskResult?> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        _results.WaitAsync(Id, timeout, cancellationToken);

    /// <summary>Waits for the task to finish and returns its value.</summary>
    /// <exception cref="TimeoutException">It did not finish within <paramref name="timeout"/>.</exception>
    /// <exception cref="TaskFailedException">It failed, expired or was revoked.</exception>
    public async Task<T?> GetAsync<T>(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var result = await _results.WaitAsync(Id, timeout, cancellationToken).ConfigureAwait(false);
        return Unwrap<T>(Id, result, timeout);
    }

    internal static T? Unwrap<T>(string id, TaskResult? result, TimeSpan timeout)
    {
        if (result is null || !TaskStates.IsTerminal(result.State))
            throw new TimeoutException($"Task {id} did not finish within {timeout} (state {result?.State ?? TaskStates.Pending}).");
        if (result.State != TaskStates.Success)
            throw new TaskFailedException(id, result);
        return result.Result is null ? default : JsonSerializer.Deserialize<T>(result.Result, TaskJson.Options);
    }
}

/// <summary>The members of a group sent together.</summary>
public sealed class GroupHandle
{
    internal GroupHandle(string groupId, IReadOnlyList<TaskHandle> members)
    {
        GroupId = groupId;
        Members = members;
    }

    /// <summary>The group id every member carries.</summary>
    public string GroupId { get; }

    /// <summary>One handle per member, in the order given.</summary>
    public IReadOnlyList<TaskHandle> Members { get; }

    /// <summary>Waits for every member and returns their values in order.</summary>
    /// <exception cref="TimeoutException">Not all finished within <paramref name="timeout"/>.</exception>
    /// <exception cref="TaskFailedException">A member failed (the first one, in order).</exception>
    public async Task<T?[]> GetAsync<T>(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var results = await Task.WhenAll(Members.Select(m => m.WaitAsync(timeout, cancellationToken).AsTask())).ConfigureAwait(false);
        var values = new T?[results.Length];
        for (var i = 0; i < results.Length; i++)
            values[i] = TaskHandle.Unwrap<T>(Members[i].Id, results[i], timeout);
        return values;
    }
}

/// <summary>Thrown when awaiting a task that ended in FAILURE, EXPIRED or REVOKED.</summary>
public sealed class TaskFailedException : Exception
{
    internal TaskFailedException(string id, TaskResult result)
        : base($"Task {id} ({result.Task}) ended in {result.State}: {result.Error?.Type}: {result.Error?.Message}")
    {
        TaskId = id;
        Result = result;
    }

    /// <summary>The task id.</summary>
    public string TaskId { get; }

    /// <summary>The stored record, with its <see cref="TaskResult.Error"/>.</summary>
    public TaskResult Result { get; }
}

/// <summary>Thrown by a send whose message is over <see cref="CeleriacOptions.MaxMessageBytes"/>.</summary>
public sealed class MessageTooLargeException : Exception
{
    internal MessageTooLargeException(string what, int bytes, int limit)
        : base($"The message for {what} is {bytes} bytes, over the limit of {limit} bytes. Pass identifiers, not whole objects.")
    {
    }
}
