using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Celeriac.Messaging;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac;

/// <summary>Builds envelopes, checks their size and hands them to the transport.</summary>
internal sealed partial class TaskClient(
    ITaskTransport transport,
    IResultStore results,
    TaskRegistry registry,
    IOptions<CeleriacOptions> options,
    TimeProvider time,
    TaskJournal journal,
    LocalProcess process,
    ILogger<TaskClient> logger) : ITaskClient
{
    private readonly CeleriacOptions _options = options.Value;

    public ValueTask<TaskHandle> SendAsync(string task, object? args = null, Action<SendOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var sendOptions = new SendOptions();
        configure?.Invoke(sendOptions);
        return SendAsync(new TaskSignature(task, args, sendOptions), cancellationToken);
    }

    public async ValueTask<TaskHandle> SendAsync(TaskSignature signature, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signature);
        var message = Build(signature, chain: null, group: null, parentId: null, rootId: null);
        var ids = await transport.EnqueueAsync([message], cancellationToken).ConfigureAwait(false);
        if (ids[0] == signature.Id) RecordSent(message, signature.Task);
        return new TaskHandle(ids[0], results, duplicate: ids[0] != signature.Id);
    }

    public async ValueTask<TaskHandle> ChainAsync(IReadOnlyList<TaskSignature> steps, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0) throw new ArgumentException("A chain needs at least one step.", nameof(steps));
        var message = Build(steps[0], chain: [.. steps.Skip(1)], group: null, parentId: null, rootId: null);
        await transport.EnqueueAsync([message], cancellationToken).ConfigureAwait(false);
        RecordSent(message, steps[0].Task);
        return new TaskHandle(steps[^1].Id, results);
    }

    public async ValueTask<GroupHandle> GroupAsync(IReadOnlyList<TaskSignature> members, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(members);
        var groupId = TaskIds.New();
        var messages = members.Select(m => Build(m, chain: null, group: groupId, parentId: null, rootId: null)).ToList();
        if (messages.Count > 0)
        {
            await transport.EnqueueAsync(messages, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < messages.Count; i++) RecordSent(messages[i], members[i].Task);
        }
        return new GroupHandle(groupId, [.. members.Select(m => new TaskHandle(m.Id, results))]);
    }

    public async ValueTask<bool> RevokeAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(taskId);
        var body = await transport.RemoveAsync(taskId, cancellationToken).ConfigureAwait(false);
        if (body is null) return false;
        TaskMessage? envelope = null;
        try
        {
            envelope = JsonSerializer.Deserialize(body, EnvelopeJsonContext.Default.TaskMessage);
        }
        catch (JsonException)
        {
            // A malformed message is revoked all the same; its task name is unknown.
        }
        var now = time.GetUtcNow();
        await results.SetAsync(new TaskResult(taskId, envelope?.Task ?? "?", TaskStates.Revoked, null, new TaskError("Revoked", "The task was revoked before it ran.", null), envelope?.Retries ?? 0, now),
            now + _options.ResultExpiry, cancellationToken).ConfigureAwait(false);
        if (envelope is not null) await AbortChainAsync(envelope, "it was revoked", cancellationToken).ConfigureAwait(false);
        journal.Record(new TaskEvent(taskId, envelope?.Task ?? "?", TaskEventKinds.Revoked, TaskStates.Revoked, now, Process: process.Id, Retries: envelope?.Retries ?? 0, Detail: "removed from its queue before it ran"));
        return true;
    }

    /// <summary>Records the steps after <paramref name="envelope"/> in its chain as FAILURE, so nobody awaits them forever.</summary>
    internal async ValueTask AbortChainAsync(TaskMessage envelope, string why, CancellationToken cancellationToken)
    {
        if (envelope.Chain is null) return;
        var error = new TaskError("ChainAborted", $"An earlier step of the chain, {envelope.Task} ({envelope.Id}), did not succeed: {why}", null);
        var now = time.GetUtcNow();
        foreach (var step in envelope.Chain)
            await results.SetAsync(new TaskResult(step.Id, step.Task, TaskStates.Failure, null, error, 0, now), now + _options.ResultExpiry, cancellationToken).ConfigureAwait(false);
    }

    public TaskHandle GetHandle(string taskId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(taskId);
        return new TaskHandle(taskId, results);
    }

    /// <summary>Sends the next step of a chain from a worker.</summary>
    internal ValueTask<string[]> SendNextAsync(TaskSignature next, IReadOnlyList<TaskSignature> rest, JsonElement? previousResult, string parentId, string rootId, CancellationToken cancellationToken)
    {
        var args = previousResult is { } value ? TaskArguments.Prepend(value, next.Args) : next.Args;
        var message = Build(next, rest, group: null, parentId, rootId, args);
        RecordSent(message, next.Task);
        return transport.EnqueueAsync([message], cancellationToken);
    }

    /// <summary>Journals a send: only queues the event (<see cref="TaskJournal.Record"/>).</summary>
    private void RecordSent(OutgoingMessage message, string task) =>
        journal.Record(new TaskEvent(message.Id, task, TaskEventKinds.Sent, TaskStates.Pending, time.GetUtcNow(), message.Queue, process.Id,
            Detail: message.VisibleAt is { } eta ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"eta {eta:O}") : null));

    internal OutgoingMessage Build(TaskSignature signature, IReadOnlyList<TaskSignature>? chain, string? group, string? parentId, string? rootId, JsonElement? args = null)
    {
        var o = signature.Options;
        var now = time.GetUtcNow();
        var eta = o.Eta ?? (o.Countdown is { } c ? now + c : null);
        var expires = o.ExpiresAt ?? (o.ExpiresIn is { } e ? now + e : null);
        var definition = registry.Find(signature.Task);
        // A producer span for the send; its context travels in the envelope to the worker's span.
        using var send = CeleriacDiagnostics.Source.StartActivity("celeriac.send " + signature.Task, ActivityKind.Producer);
        send?.SetTag("celeriac.task.id", signature.Id);
        var traceParent = (send ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } span ? span.Id : null;
        var envelope = new TaskMessage
        {
            Id = signature.Id,
            Task = signature.Task,
            Args = args ?? signature.Args,
            Kwargs = signature.Kwargs,
            Eta = eta,
            Expires = expires,
            RootId = rootId ?? signature.Id,
            ParentId = parentId,
            Group = group,
            Origin = TaskIds.Origin,
            IgnoreResult = definition?.IgnoreResult ?? false,
            Chain = chain is { Count: > 0 } ? chain : null,
            TraceParent = traceParent,
        };
        var body = JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.TaskMessage);
        var bytes = MessageSize.Check(body, $"task '{signature.Task}'", _options.MaxMessageBytes);
        if (bytes > _options.WarnMessageBytes)
            LogLargeMessage(signature.Task, signature.Id, bytes, _options.WarnMessageBytes);
        var queue = o.Queue ?? definition?.Queue ?? _options.DefaultQueue;
        DateTimeOffset? idempotencyExpires = o.IdempotencyKey is null ? null : now + (o.IdempotencyWindow ?? _options.IdempotencyWindow);
        return new OutgoingMessage(signature.Id, queue, o.Priority, body, eta, o.IdempotencyKey, idempotencyExpires);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Message for task {Task} ({TaskId}) is {Bytes} bytes, over the warning size of {Limit} bytes; pass identifiers, not whole objects")]
    private partial void LogLargeMessage(string task, string taskId, int bytes, int limit);
}
