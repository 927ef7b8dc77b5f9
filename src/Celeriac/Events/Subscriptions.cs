using System.Collections.Concurrent;

namespace Celeriac.Events;

/// <summary>A subscription mapped in this process: its pattern, its durable name (if any) and its handler as a task definition.</summary>
internal sealed class SubscriptionDefinition(string pattern, string? durable, TaskDefinition handler)
{
    public string Pattern { get; } = pattern;

    /// <summary>The durable name; <see langword="null"/> for an ephemeral subscription.</summary>
    public string? Durable { get; } = durable;

    /// <summary>The durable subscription's queue in the task transport.</summary>
    public string? Queue { get; } = durable is null ? null : SubscriptionRegistry.QueueFor(durable);

    /// <summary>Invoker, retry policy and time limits; named after the durable name (or the pattern).</summary>
    public TaskDefinition Handler { get; } = handler;
}

/// <summary>Every subscription this process maps. One per service provider.</summary>
internal sealed class SubscriptionRegistry
{
    /// <summary>The queue prefix of durable subscriptions.</summary>
    public const string QueuePrefix = "events:";

    /// <summary>The default retry policy of subscription handlers: any exception, 3 retries, backoff from 1 s with jitter.</summary>
    public static readonly RetryPolicy DefaultRetry = RetryPolicy.Create([typeof(Exception)]);

    private readonly ConcurrentDictionary<string, SubscriptionDefinition> _durable = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<SubscriptionDefinition> _ephemeral = new();

    public static string QueueFor(string durable) => QueuePrefix + durable;

    public static bool IsEventQueue(string queue) => queue.StartsWith(QueuePrefix, StringComparison.Ordinal);

    /// <summary>Throws a clear error when <paramref name="name"/> is not a valid durable name: letters, digits, '-', '_' and '.', at most 100.</summary>
    public static void ValidateDurableName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > 100 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"Invalid durable subscription name '{name}': use letters, digits, '-', '_' and '.' (at most 100).", nameof(name));
    }

    public SubscriptionDefinition Add(string pattern, Delegate handler, string? durable)
    {
        EventSubjects.ValidatePattern(pattern);
        ArgumentNullException.ThrowIfNull(handler);
        if (durable is not null) ValidateDurableName(durable);
        var definition = new SubscriptionDefinition(pattern, durable,
            new TaskDefinition(durable ?? pattern, TaskInvoker.Create($"subscription {durable ?? pattern}", handler, payloadOptional: true)) { Retry = DefaultRetry, IgnoreResult = true });
        if (durable is null)
            _ephemeral.Enqueue(definition);
        else if (!_durable.TryAdd(definition.Queue!, definition))
            throw new InvalidOperationException($"A durable subscription named '{durable}' is already mapped; one name has one pattern and one handler.");
        return definition;
    }

    public SubscriptionDefinition? FindDurable(string queue) => _durable.GetValueOrDefault(queue);

    public IReadOnlyList<SubscriptionDefinition> Durable => [.. _durable.Values.OrderBy(d => d.Durable, StringComparer.Ordinal)];

    public IReadOnlyList<SubscriptionDefinition> Ephemeral => [.. _ephemeral];
}

/// <summary>Configures a subscription registered with <c>MapSubscription</c>.</summary>
public sealed class SubscriptionBuilder
{
    internal SubscriptionBuilder(SubscriptionDefinition definition) => Definition = definition;

    internal SubscriptionDefinition Definition { get; }

    /// <summary>
    /// Durable subscriptions only: retries on the given exception types with exponential backoff and full jitter, then
    /// dead-letters. The default retries any exception 3 times, from 1 s.
    /// </summary>
    public SubscriptionBuilder Retry(Type[] on, TimeSpan? backoff = null, int maxRetries = 3, bool jitter = true, TimeSpan? maxBackoff = null)
    {
        Definition.Handler.Retry = RetryPolicy.Create(on, backoff, maxRetries, jitter, maxBackoff);
        return this;
    }

    /// <summary>Durable subscriptions only: uses <paramref name="policy"/> for retries.</summary>
    public SubscriptionBuilder Retry(RetryPolicy policy)
    {
        Definition.Handler.Retry = policy ?? throw new ArgumentNullException(nameof(policy));
        return this;
    }

    /// <summary>Durable subscriptions only: soft and hard time limits, as for tasks.</summary>
    public SubscriptionBuilder TimeLimit(TimeSpan? soft = null, TimeSpan? hard = null)
    {
        Definition.Handler.SetTimeLimits(soft, hard);
        return this;
    }
}
