namespace Celeriac.Scheduling;

/// <summary>When a schedule's ticks are: a pure function of time, the same in every process.</summary>
internal abstract class ScheduleTiming
{
    /// <summary>The first tick strictly after <paramref name="after"/>, or <see langword="null"/> when there is none.</summary>
    public abstract DateTimeOffset? Next(DateTimeOffset after);

    /// <summary>
    /// The last tick in (<paramref name="after"/>, <paramref name="atOrBefore"/>], or <see langword="null"/> when there
    /// is none. Looks back from <paramref name="atOrBefore"/> over a doubling window, so a long gap (days of downtime
    /// on a per-second schedule) costs a few lookups, not one per tick.
    /// </summary>
    public virtual DateTimeOffset? Latest(DateTimeOffset after, DateTimeOffset atOrBefore)
    {
        var first = Next(after);
        if (first is not { } start || start > atOrBefore) return null;
        for (var window = TimeSpan.FromSeconds(1); ; window += window)
        {
            var from = atOrBefore - window;
            if (from <= start) break;
            if (Next(from) is { } t && t <= atOrBefore)
            {
                start = t;
                break;
            }
        }
        while (Next(start) is { } n && n <= atOrBefore) start = n;
        return start;
    }
}
