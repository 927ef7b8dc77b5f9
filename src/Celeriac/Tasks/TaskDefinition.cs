using System.Collections.Concurrent;

namespace Celeriac;

/// <summary>A registered task: its name, how to call it, and its policies.</summary>
internal sealed class TaskDefinition(string name, TaskInvoker invoker)
{
    public string Name { get; } = name;
    public TaskInvoker Invoker { get; } = invoker;
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;
    public TimeSpan? SoftTimeLimit { get; set; }
    public TimeSpan? HardTimeLimit { get; set; }
    public string? Queue { get; set; }
    public bool IgnoreResult { get; set; }
    public TaskLock? Lock { get; set; }
    public TimeSpan LockRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    public void SetTimeLimits(TimeSpan? soft, TimeSpan? hard)
    {
        if (soft is { } s && hard is { } h && s > h)
            throw new ArgumentException("The soft time limit must not be above the hard one.", nameof(soft));
        SoftTimeLimit = soft;
        HardTimeLimit = hard;
    }
}

/// <summary>Every task this process knows, by name. One per service provider; read on every send and run, so reads take no lock.</summary>
internal sealed class TaskRegistry
{
    private readonly ConcurrentDictionary<string, TaskDefinition> _tasks = new(StringComparer.Ordinal);

    public TaskDefinition Add(string name, Delegate handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(handler);
        var definition = new TaskDefinition(name, TaskInvoker.Create(name, handler));
        if (!_tasks.TryAdd(name, definition))
            throw new InvalidOperationException($"A task named '{name}' is already registered.");
        return definition;
    }

    public TaskDefinition? Find(string name) => _tasks.GetValueOrDefault(name);

    public IReadOnlyList<string> Names => [.. _tasks.Keys.Order(StringComparer.Ordinal)];
}
