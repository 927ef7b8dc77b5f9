namespace Celeriac;

/// <summary>When and how a failing task is tried again.</summary>
public sealed class RetryPolicy
{
    /// <summary>Exception types (and their subtypes) that cause a retry. Empty: only manual retries.</summary>
    public IReadOnlyList<Type> On { get; init; } = [];

    /// <summary>Delay before the first retry; doubled for each retry after it. Default 1 s.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest delay. Default 10 minutes.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Retries after the first try; the try after the last retry that fails goes to the dead-letter store. Default 3.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Full jitter: the delay is drawn uniformly from zero to the exponential delay. Default true.</summary>
    public bool Jitter { get; init; } = true;

    /// <summary>
    /// A policy retrying on <paramref name="on"/>; unset values keep the defaults. Throws when a type is not an
    /// exception or <paramref name="maxRetries"/> is negative.
    /// </summary>
    public static RetryPolicy Create(Type[] on, TimeSpan? backoff = null, int maxRetries = 3, bool jitter = true, TimeSpan? maxBackoff = null)
    {
        ArgumentNullException.ThrowIfNull(on);
        foreach (var type in on)
            if (!typeof(Exception).IsAssignableFrom(type))
                throw new ArgumentException($"{type} is not an exception type.", nameof(on));
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetries);
        return new RetryPolicy
        {
            On = on,
            Backoff = backoff ?? Default.Backoff,
            MaxBackoff = maxBackoff ?? Default.MaxBackoff,
            MaxRetries = maxRetries,
            Jitter = jitter,
        };
    }

    /// <summary>The policy of a task that names none: manual retries only, up to 3.</summary>
    public static RetryPolicy Default { get; } = new();

    /// <summary>Whether <paramref name="exception"/> is one this policy retries on.</summary>
    public bool Handles(Exception exception) => On.Any(t => t.IsInstanceOfType(exception));

    /// <summary>The delay before retry number <paramref name="retries"/> + 1. <paramref name="random"/> is a draw in [0, 1).</summary>
    public TimeSpan DelayFor(int retries, double random)
    {
        var exponential = Backoff.TotalMilliseconds * Math.Pow(2, Math.Min(retries, 62));
        var capped = Math.Min(exponential, MaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(Jitter ? capped * random : capped);
    }
}
