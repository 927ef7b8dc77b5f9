namespace Celeriac;

/// <summary>Configures a task registered with <c>MapTask</c>.</summary>
public sealed class TaskBuilder
{
    internal TaskBuilder(TaskDefinition definition) => Definition = definition;

    internal TaskDefinition Definition { get; }

    /// <summary>Retries on the given exception types with exponential backoff (doubling from <paramref name="backoff"/>, capped at <paramref name="maxBackoff"/>) and full jitter.</summary>
    public TaskBuilder Retry(Type[] on, TimeSpan? backoff = null, int maxRetries = 3, bool jitter = true, TimeSpan? maxBackoff = null)
    {
        Definition.Retry = RetryPolicy.Create(on, backoff, maxRetries, jitter, maxBackoff);
        return this;
    }

    /// <summary>Uses <paramref name="policy"/> for retries.</summary>
    public TaskBuilder Retry(RetryPolicy policy)
    {
        Definition.Retry = policy ?? throw new ArgumentNullException(nameof(policy));
        return this;
    }

    /// <summary>
    /// Soft limit: the task's <see cref="CancellationToken"/> fires. Hard limit: the run is abandoned and recorded as
    /// FAILURE (<c>TimeLimitExceeded</c>), and its slot is freed.
    /// </summary>
    public TaskBuilder TimeLimit(TimeSpan? soft = null, TimeSpan? hard = null)
    {
        Definition.SetTimeLimits(soft, hard);
        return this;
    }

    /// <summary>The queue this task is sent to when the send names none.</summary>
    public TaskBuilder Queue(string queue)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        Definition.Queue = queue;
        return this;
    }

    /// <summary>
    /// At most one run per lock key at a time, across every worker sharing the store. The key is
    /// <paramref name="keyTemplate"/> with each <c>{parameter}</c> replaced by that argument's value, e.g.
    /// <c>.Lock("device:{deviceId}")</c>. A run that finds its key taken is put back in its queue for
    /// <paramref name="retryAfter"/> (default 1 s, with jitter) without counting as a retry; the lock is leased
    /// and renewed like the message, so a dead worker's lock frees itself.
    /// </summary>
    public TaskBuilder Lock(string keyTemplate, TimeSpan? retryAfter = null)
    {
        Definition.Lock = TaskLock.Parse(Definition.Name, keyTemplate, Definition.Invoker.ArgumentNames);
        Definition.LockRetryAfter = retryAfter ?? TimeSpan.FromSeconds(1);
        return this;
    }

    /// <summary>Stores no result (nor failure state) for this task; callers cannot await it.</summary>
    public TaskBuilder IgnoreResult()
    {
        Definition.IgnoreResult = true;
        return this;
    }
}
