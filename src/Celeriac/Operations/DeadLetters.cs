using System.Text.Json;
using Celeriac.Messaging;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>
/// Dead-letter repair over the transport's primitives. Listing reads the newest dead letters and filters them here
/// (the task name comes from the envelope, so no store can filter on it); a filtered read looks at up to
/// <see cref="ScanLimit"/> of them. A requeue sends a new delivery of the same task id with its retries reset and no
/// ETA, first setting its result back to PENDING and journalling <see cref="TaskEventKinds.Requeued"/>, so the task's
/// story keeps the failure and its awaiters keep waiting. A body that is not a readable envelope is listed (task
/// <c>?</c>) and can be deleted, but is never requeued.
/// </summary>
internal sealed partial class DeadLetters(
    ITaskTransport transport,
    IResultStore results,
    TaskJournal journal,
    IOptions<CeleriacOptions> options,
    TimeProvider time,
    ILogger<DeadLetters> logger) : IDeadLetters
{
    /// <summary>Most dead letters a filtered list, requeue or delete reads to find its matches.</summary>
    internal const int ScanLimit = 100_000;

    /// <summary>The task name of a dead letter whose body is not a readable envelope.</summary>
    internal const string UnknownTask = "?";

    public async ValueTask<IReadOnlyList<DeadLetterView>> ListAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfNegative(filter.Limit);
        if (filter.Limit == 0) return [];
        IEnumerable<DeadLetter> letters;
        if (filter.Id is { } id)
        {
            letters = await transport.GetDeadLetterAsync(id, cancellationToken).ConfigureAwait(false) is { } one ? [one] : [];
        }
        else
        {
            var filtered = filter.Queue is not null || filter.Task is not null || filter.Reason is not null || filter.Since is not null || filter.Until is not null || filter.Text is not null;
            letters = await transport.GetDeadLettersAsync(filtered ? Math.Max(filter.Limit, ScanLimit) : filter.Limit, cancellationToken).ConfigureAwait(false);
        }
        return [.. letters.Select(View).Where(v => Matches(filter, v)).Take(filter.Limit)];
    }

    public async ValueTask<DeadLetterView?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return await transport.GetDeadLetterAsync(id, cancellationToken).ConfigureAwait(false) is { } letter ? View(letter) : null;
    }

    public async ValueTask<int> RequeueAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default)
    {
        var matches = await ListAsync(filter, cancellationToken).ConfigureAwait(false);
        if (filter.Id is not null && matches is [{ Task: UnknownTask } unreadable])
            throw new InvalidOperationException(NotRequeueable(unreadable.Id));
        var requeued = 0;
        foreach (var view in matches)
        {
            if (Envelope(view.Letter.Body) is not { } envelope)
            {
                LogSkippedUnreadable(view.Id);
                continue;
            }
            if (await RequeueOneAsync(view, envelope, cancellationToken).ConfigureAwait(false)) requeued++;
        }
        return requeued;
    }

    public async ValueTask<int> DeleteAsync(DeadLetterFilter filter, CancellationToken cancellationToken = default)
    {
        var matches = await ListAsync(filter, cancellationToken).ConfigureAwait(false);
        var deleted = 0;
        foreach (var view in matches)
            if (await transport.DeleteDeadLetterAsync(view.Id, cancellationToken).ConfigureAwait(false)) deleted++;
        return deleted;
    }

    /// <summary>The message that refuses a requeue of an unreadable dead letter.</summary>
    internal static string NotRequeueable(string id) =>
        $"Dead letter {id} cannot be requeued: its body is not a readable task envelope (no task name to run). Look at it with 'dead-letters show {id}' and delete it with 'dead-letters delete {id}'.";

    private async ValueTask<bool> RequeueOneAsync(DeadLetterView view, TaskMessage envelope, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.Serialize(envelope.With(retries: 0, eta: null), EnvelopeJsonContext.Default.TaskMessage);
        var now = time.GetUtcNow();
        // PENDING and the journal entry go first: once the message is back a worker may write STARTED or SUCCESS at
        // once, and those must not be overwritten, nor come before the requeue in the story.
        var previous = await results.GetAsync(view.Id, cancellationToken).ConfigureAwait(false);
        await results.SetAsync(new TaskResult(view.Id, envelope.Task, TaskStates.Pending, null, null, 0, now), now + options.Value.ResultExpiry, cancellationToken).ConfigureAwait(false);
        journal.Record(new TaskEvent(view.Id, envelope.Task, TaskEventKinds.Requeued, TaskStates.Pending, now, view.Letter.Queue,
            Retries: 0, Error: ErrorText(view.Letter.Info), Detail: $"requeued from the dead letters (was {view.Letter.Info.Reason} after {view.Retries} retries)"));
        if (await transport.RequeueDeadLetterAsync(view.Id, body, cancellationToken).ConfigureAwait(false)) return true;
        // Someone else requeued or deleted it in between: put the result back as it was.
        if (previous is not null) await results.SetAsync(previous, now + options.Value.ResultExpiry, cancellationToken).ConfigureAwait(false);
        return false;
    }

    private static bool Matches(DeadLetterFilter f, DeadLetterView v)
    {
        var d = v.Letter;
        return (f.Id is null || d.Id == f.Id)
            && (f.Queue is null || d.Queue == f.Queue)
            && (f.Task is null || v.Task == f.Task)
            && (f.Reason is null || string.Equals(d.Info.Reason, f.Reason, StringComparison.OrdinalIgnoreCase))
            && (f.Since is null || d.FailedAt >= f.Since)
            && (f.Until is null || d.FailedAt < f.Until)
            && (f.Text is null
                || (d.Info.ErrorType?.Contains(f.Text, StringComparison.OrdinalIgnoreCase) ?? false)
                || d.Info.ErrorMessage.Contains(f.Text, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A dead letter with its envelope read; task <c>?</c> when the body is not one.</summary>
    internal static DeadLetterView View(DeadLetter letter) => Envelope(letter.Body) is { } e
        ? new DeadLetterView(letter, e.Task, e.Args?.GetRawText(), e.Kwargs?.GetRawText(), e.Retries)
        : new DeadLetterView(letter, UnknownTask, null, null, 0);

    private static TaskMessage? Envelope(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, EnvelopeJsonContext.Default.TaskMessage) is { Task.Length: > 0, Id.Length: > 0 } e ? e : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string ErrorText(DeadLetterInfo info) => info.ErrorType is { } type ? $"{type}: {info.ErrorMessage}" : info.ErrorMessage;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dead letter {Id} was not requeued: its body is not a readable task envelope")]
    private partial void LogSkippedUnreadable(string id);
}
