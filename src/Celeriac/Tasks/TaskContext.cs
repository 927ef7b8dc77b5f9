namespace Celeriac;

/// <summary>What a running task knows about itself. Bind it by declaring a <see cref="TaskContext"/> parameter.</summary>
public sealed class TaskContext
{
    internal TaskContext(string id, string name, int retries, int deliveryCount, DateTimeOffset? eta, string? parentId, string rootId, string? groupId, string queue, CancellationToken cancellationToken)
    {
        Id = id; Name = name; Retries = retries; DeliveryCount = deliveryCount; Eta = eta;
        ParentId = parentId; RootId = rootId; GroupId = groupId; Queue = queue; CancellationToken = cancellationToken;
    }

    /// <summary>Task id.</summary>
    public string Id { get; }
    /// <summary>Task name.</summary>
    public string Name { get; }
    /// <summary>Retries so far (0 on the first try).</summary>
    public int Retries { get; }
    /// <summary>How often this message was delivered (above 1 after a worker died or released it).</summary>
    public int DeliveryCount { get; }
    /// <summary>The time it was scheduled for, if any.</summary>
    public DateTimeOffset? Eta { get; }
    /// <summary>The task that sent this one (a chain's previous step, a retry's earlier try).</summary>
    public string? ParentId { get; }
    /// <summary>The first task of the workflow this one belongs to (its own id when it started one).</summary>
    public string RootId { get; }
    /// <summary>The group it was sent in, if any.</summary>
    public string? GroupId { get; }
    /// <summary>The queue it came from.</summary>
    public string Queue { get; }
    /// <summary>Fires at the soft time limit and on shutdown.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Set when this run is a subscription handler's.</summary>
    internal EventContext? Event { get; init; }

    /// <summary>
    /// Asks for another try after <paramref name="countdown"/> (default: the task's backoff). Throw the returned
    /// exception: <c>throw context.Retry(TimeSpan.FromSeconds(5));</c>. Counts against the task's retry limit.
    /// </summary>
    public RetryException Retry(TimeSpan? countdown = null, Exception? reason = null) => new(countdown, reason);
}

/// <summary>Thrown from a task to ask for another try; see <see cref="TaskContext.Retry"/>.</summary>
public sealed class RetryException : Exception
{
    internal RetryException(TimeSpan? countdown, Exception? reason)
        : base(reason?.Message ?? "Retry requested by the task.", reason) => Countdown = countdown;

    /// <summary>The delay asked for, or null for the task's backoff.</summary>
    public TimeSpan? Countdown { get; }
}
