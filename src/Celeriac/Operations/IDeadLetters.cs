using Celeriac.Transport;

namespace Celeriac.Operations;

/// <summary>
/// Repair of tasks that failed for good: list and filter the dead letters, show one, requeue them (a new delivery of
/// the same task id with its retries reset; the dead letter is kept in the task's story), delete them.
/// </summary>
public interface IDeadLetters
{
    /// <summary>The dead letters that match <paramref name="filter"/>, newest first, at most <see cref="DeadLetterFilter.Limit"/>.</summary>
    ValueTask<IReadOnlyList<DeadLetterView>> ListAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default);

    /// <summary>One dead letter, or <see langword="null"/> when there is none with that id.</summary>
    ValueTask<DeadLetterView?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Requeues every dead letter that matches <paramref name="filter"/>. Returns how many were requeued.</summary>
    ValueTask<int> RequeueAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Deletes every dead letter that matches <paramref name="filter"/>. Returns how many were deleted.</summary>
    ValueTask<int> DeleteAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default);
}

/// <summary>Which dead letters: every set criterion must match. An empty filter matches all.</summary>
public sealed record DeadLetterFilter
{
    /// <summary>Exactly this task id.</summary>
    public string? Id { get; init; }
    /// <summary>From this queue.</summary>
    public string? Queue { get; init; }
    /// <summary>Of this task name.</summary>
    public string? Task { get; init; }
    /// <summary>With this reason (<c>max-retries</c>, <c>unknown-task</c>, …).</summary>
    public string? Reason { get; init; }
    /// <summary>Failed at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }
    /// <summary>Failed before this time.</summary>
    public DateTimeOffset? Until { get; init; }
    /// <summary>This text (case-insensitive) in the error type or message.</summary>
    public string? Text { get; init; }
    /// <summary>Most dead letters to list or act on. Default 1,000.</summary>
    public int Limit { get; init; } = 1000;
}

/// <summary>A dead letter with its envelope read: task name, arguments and error.</summary>
/// <param name="Letter">As stored.</param>
/// <param name="Task">The task name, or <c>?</c> when the body is not a readable envelope.</param>
/// <param name="Args">Positional arguments as JSON, when readable.</param>
/// <param name="Kwargs">Keyword arguments as JSON, when readable.</param>
/// <param name="Retries">Retries it had when it failed for good.</param>
public sealed record DeadLetterView(DeadLetter Letter, string Task, string? Args, string? Kwargs, int Retries)
{
    /// <summary>The task id.</summary>
    public string Id => Letter.Id;
}
