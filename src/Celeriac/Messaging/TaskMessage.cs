using System.Text.Json;
using System.Text.Json.Serialization;

namespace Celeriac.Messaging;

/// <summary>
/// The task envelope, one JSON object whose fields keep the names of Celery's message protocol v2: id, task, args,
/// kwargs, retries, eta, expires, root_id, parent_id, group, origin, ignore_result and chain, plus the optional W3C
/// <c>traceparent</c> of the span that sent it (a message without it still works). It carries no time limit
/// (that comes from the task's registration) and no callbacks or errbacks (a chain is the only link between tasks);
/// queue and priority are kept by the transport beside the body. <see cref="Chain"/> lists the remaining steps in
/// execution order (Celery's wire form lists them reversed).
/// An event is the same envelope with <see cref="Subject"/> and <see cref="Published"/> set.
/// </summary>
internal sealed class TaskMessage
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("task")] public required string Task { get; init; }
    [JsonPropertyName("args")] public JsonElement? Args { get; init; }
    [JsonPropertyName("kwargs")] public JsonElement? Kwargs { get; init; }
    [JsonPropertyName("retries")] public int Retries { get; init; }
    [JsonPropertyName("eta")] public DateTimeOffset? Eta { get; init; }
    [JsonPropertyName("expires")] public DateTimeOffset? Expires { get; init; }
    [JsonPropertyName("root_id")] public string? RootId { get; init; }
    [JsonPropertyName("parent_id")] public string? ParentId { get; init; }
    [JsonPropertyName("group")] public string? Group { get; init; }
    [JsonPropertyName("origin")] public string? Origin { get; init; }
    [JsonPropertyName("ignore_result")] public bool IgnoreResult { get; init; }
    [JsonPropertyName("chain")] public IReadOnlyList<TaskSignature>? Chain { get; init; }

    /// <summary>The W3C trace context of the send (<c>00-{trace id}-{span id}-{flags}</c>), so the worker's span is its child.</summary>
    [JsonPropertyName("traceparent")] public string? TraceParent { get; init; }

    /// <summary>Set on events only: the subject it was published on (then <see cref="Args"/> holds the payload as its one item).</summary>
    [JsonPropertyName("subject")] public string? Subject { get; init; }

    /// <summary>Set on events only: when it was published.</summary>
    [JsonPropertyName("published")] public DateTimeOffset? Published { get; init; }

    public TaskMessage With(int retries, DateTimeOffset? eta) => new()
    {
        Id = Id, Task = Task, Args = Args, Kwargs = Kwargs, Retries = retries, Eta = eta, Expires = Expires,
        RootId = RootId, ParentId = ParentId, Group = Group, Origin = Origin, IgnoreResult = IgnoreResult, Chain = Chain,
        TraceParent = TraceParent, Subject = Subject, Published = Published,
    };
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskMessage))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
