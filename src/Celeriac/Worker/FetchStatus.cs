using System.Collections.Concurrent;

namespace Celeriac.Worker;

/// <summary>
/// What a worker's fetch loop knows about its own progress: when it last completed a store round trip, how many
/// receives failed in a row and with what, and which queues it has set aside because their storage is damaged.
/// Written by the fetch loop only; read by anything that reports health.
/// </summary>
internal sealed class FetchStatus
{
    private readonly ConcurrentDictionary<string, (string Cause, DateTimeOffset RetryAt)> _setAside = new(StringComparer.Ordinal);
    private long _lastRoundTripTicks;

    /// <summary>When the last receive returned (with or without messages); <see langword="null"/> before the first.</summary>
    public DateTimeOffset? LastRoundTrip => Interlocked.Read(ref _lastRoundTripTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>Receives that failed in a row, 0 after a success.</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>The last failure's message, <see langword="null"/> after a success.</summary>
    public string? LastError { get; private set; }

    /// <summary>The queues set aside, with what is wrong with each.</summary>
    public IReadOnlyDictionary<string, string> SetAsideQueues => _setAside.ToDictionary(p => p.Key, p => p.Value.Cause, StringComparer.Ordinal);

    /// <summary>The queues to receive from now: those not set aside, and those whose retry time has come.</summary>
    public IReadOnlyList<string> QueuesToAsk(string[] queues, DateTimeOffset now)
    {
        if (_setAside.IsEmpty) return queues;
        var asking = new List<string>(queues.Length);
        foreach (var q in queues)
            if (!_setAside.TryGetValue(q, out var aside) || aside.RetryAt <= now) asking.Add(q);
        return asking;
    }

    /// <summary>How long until the first set-aside queue is tried again (at least 1 ms).</summary>
    public TimeSpan NextRetry(DateTimeOffset now)
    {
        var first = _setAside.Values.Min(v => v.RetryAt);
        return first - now is var wait && wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>Sets <paramref name="queue"/> aside until <paramref name="retryAt"/>; true when it was not set aside before.</summary>
    public bool SetAside(string queue, string cause, DateTimeOffset retryAt)
    {
        var added = !_setAside.ContainsKey(queue);
        _setAside[queue] = (cause, retryAt);
        return added;
    }

    /// <summary>Takes <paramref name="queue"/> off the set-aside list after a receive that included it worked; true when it was on it.</summary>
    public bool Recovered(string queue) => !_setAside.IsEmpty && _setAside.TryRemove(queue, out _);

    /// <summary>Whether the watchdog abandoned the last receive (a stuck connection); false after a success.</summary>
    public bool Stuck { get; private set; }

    public void Succeeded(DateTimeOffset at)
    {
        Interlocked.Exchange(ref _lastRoundTripTicks, at.UtcTicks);
        ConsecutiveFailures = 0;
        LastError = null;
        Stuck = false;
    }

    public void Failed(Exception error, bool stuck = false)
    {
        ConsecutiveFailures++;
        LastError = error.Message;
        Stuck = stuck;
    }
}

/// <summary>A receive that did not return within the worker's watchdog bound.</summary>
internal sealed class FetchWatchdogException(TimeSpan waited)
    : TimeoutException($"No store round trip for {waited}: the receive was abandoned.")
{
    public TimeSpan Waited { get; } = waited;
}
