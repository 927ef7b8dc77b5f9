namespace Celeriac;

/// <summary>Options for one send. Every property is optional.</summary>
public sealed class SendOptions
{
    /// <summary>Run no earlier than this long after sending. Ignored when <see cref="Eta"/> is set.</summary>
    public TimeSpan? Countdown { get; set; }

    /// <summary>Run no earlier than this time.</summary>
    public DateTimeOffset? Eta { get; set; }

    /// <summary>Do not run after this long from sending: the task is recorded as EXPIRED instead.</summary>
    public TimeSpan? ExpiresIn { get; set; }

    /// <summary>Do not run after this time. Takes precedence over <see cref="ExpiresIn"/>.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>Queue to send to; default: the task's queue, else <see cref="CeleriacOptions.DefaultQueue"/>.</summary>
    public string? Queue { get; set; }

    /// <summary>Higher runs first within a queue (0 by default; any integer).</summary>
    public int Priority { get; set; }

    /// <summary>
    /// When set, a second send with the same key inside <see cref="IdempotencyWindow"/> is dropped and returns the
    /// handle of the first.
    /// </summary>
    public string? IdempotencyKey { get; set; }

    /// <summary>How long an idempotency key is held; default <see cref="CeleriacOptions.IdempotencyWindow"/>.</summary>
    public TimeSpan? IdempotencyWindow { get; set; }

    /// <summary>The id to run under; default a new time-ordered GUID.</summary>
    public string? TaskId { get; set; }
}
