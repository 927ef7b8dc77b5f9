namespace Celeriac.Scheduling;

/// <summary>
/// Every <c>period</c>, on the multiples of the period since the Unix epoch (UTC): a 5-minute schedule ticks at :00,
/// :05, …, a 500 ms one at .000 and .500 of each second. The ticks are the same in every process and after a
/// restart, without any stored anchor, and daylight-saving changes do not move them.
/// </summary>
internal sealed class IntervalSchedule : ScheduleTiming
{
    private readonly long _periodMs;

    public IntervalSchedule(TimeSpan period)
    {
        if (period < TimeSpan.FromMilliseconds(1) || period.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(period), period, "An interval must be a whole number of milliseconds, at least 1 ms.");
        _periodMs = (long)period.TotalMilliseconds;
    }

    public override DateTimeOffset? Next(DateTimeOffset after)
    {
        var ms = after.ToUnixTimeMilliseconds();
        // ToUnixTimeMilliseconds truncates toward zero; a sub-millisecond remainder still counts as "after" that ms.
        var k = Math.DivRem(ms, _periodMs, out var rest);
        if (rest < 0) k--;
        return DateTimeOffset.FromUnixTimeMilliseconds((k + 1) * _periodMs);
    }

    public override DateTimeOffset? Latest(DateTimeOffset after, DateTimeOffset atOrBefore)
    {
        var ms = atOrBefore.ToUnixTimeMilliseconds();
        var k = Math.DivRem(ms, _periodMs, out var rest);
        if (rest < 0) k--;
        var latest = DateTimeOffset.FromUnixTimeMilliseconds(k * _periodMs);
        return latest > after && latest <= atOrBefore ? latest : null;
    }
}
