using System.Text.Json;
using System.Text.Json.Serialization;
using Celeriac.Messaging;

namespace Celeriac;

/// <summary>A task call not yet sent: name, arguments and options. Used for chains and groups.</summary>
public sealed class TaskSignature
{
    /// <summary>Creates a signature for <paramref name="task"/>. <paramref name="args"/> follows the rules of <see cref="ITaskClient.SendAsync(string, object?, Action{SendOptions}?, CancellationToken)"/>.</summary>
    public TaskSignature(string task, object? args = null, SendOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(task);
        Task = task;
        (Args, Kwargs) = TaskArguments.Split(args);
        Options = options ?? new SendOptions();
        Id = Options.TaskId ?? TaskIds.New();
    }

    [JsonConstructor]
    internal TaskSignature(string task, JsonElement? args, JsonElement? kwargs, string id, string? queue, int priority)
    {
        Task = task; Args = args; Kwargs = kwargs; Id = id;
        Options = new SendOptions { Queue = queue, Priority = priority, TaskId = id };
    }

    /// <summary>Task name.</summary>
    [JsonPropertyName("task")] public string Task { get; }
    /// <summary>The id the task will run under.</summary>
    [JsonPropertyName("id")] public string Id { get; }
    /// <summary>Positional arguments.</summary>
    [JsonPropertyName("args")] public JsonElement? Args { get; }
    /// <summary>Keyword arguments.</summary>
    [JsonPropertyName("kwargs")] public JsonElement? Kwargs { get; }
    /// <summary>Queue (null for the task's default).</summary>
    [JsonPropertyName("queue")] public string? Queue => Options.Queue;
    /// <summary>Priority.</summary>
    [JsonPropertyName("priority")] public int Priority => Options.Priority;
    /// <summary>Send options.</summary>
    [JsonIgnore] public SendOptions Options { get; }
}
