namespace Celeriac.Operations;

/// <summary>
/// Queues watched for stalls (<see cref="CeleriacBuilder.AlertWhenStalled"/>): a queue is stalled while its oldest
/// ready message has waited longer than the queue's threshold. Configuration section <c>Celeriac:Alerts</c>.
/// </summary>
public sealed class StallAlertOptions
{
    /// <summary>Per queue, the longest its oldest ready message may wait. Empty by default: nothing is watched.</summary>
    public IDictionary<string, TimeSpan> StalledAfter { get; } = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);

    /// <summary>How often the queues are checked (one queue-stats read per check, in one process). Default 10 s.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>The payload of the <c>celeriac.queue.stalled</c> and <c>celeriac.queue.recovered</c> events.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Ready">Messages ready when it was checked.</param>
/// <param name="OldestReadyAt">When the oldest ready message was sent; <see langword="null"/> when none is ready.</param>
/// <param name="StalledAfter">The queue's threshold.</param>
/// <param name="At">When the check saw it.</param>
/// <param name="StalledFor">On recovery, how long the queue was stalled (from the first check that saw it).</param>
public sealed record QueueStallAlert(string Queue, long Ready, DateTimeOffset? OldestReadyAt, TimeSpan StalledAfter, DateTimeOffset At, TimeSpan? StalledFor = null);
