using System.Text.Json;
using Celeriac.Scheduling;

namespace Celeriac.Tests.Scheduling;

/// <summary>When ticks are: intervals, cron, time zones and both daylight-saving changes (pure functions of time).</summary>
public sealed class ScheduleArithmeticTests
{
    private static readonly TimeZoneInfo Madrid = TimeZoneInfo.FindSystemTimeZoneById("Europe/Madrid");

    private static DateTimeOffset Utc(int y, int mo, int d, int h, int mi, int s = 0, int ms = 0) => new(y, mo, d, h, mi, s, ms, TimeSpan.Zero);

    [Fact]
    public void Interval_ticks_are_multiples_of_the_period_since_the_epoch()
    {
        var every5min = ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromMinutes(5));
        Assert.Equal(Utc(2026, 1, 1, 12, 5), every5min.GetNextTick(Utc(2026, 1, 1, 12, 0)));
        Assert.Equal(Utc(2026, 1, 1, 12, 5), every5min.GetNextTick(Utc(2026, 1, 1, 12, 4, 59, 999)));
        Assert.Equal(Utc(2026, 1, 1, 12, 10), every5min.GetNextTick(Utc(2026, 1, 1, 12, 5)));

        var halfSecond = ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromMilliseconds(500));
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 0, 500), halfSecond.GetNextTick(Utc(2026, 1, 1, 12, 0)));
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 1), halfSecond.GetNextTick(Utc(2026, 1, 1, 12, 0, 0, 500)));
        // A sub-millisecond remainder still counts as after the tick.
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 1), halfSecond.GetNextTick(Utc(2026, 1, 1, 12, 0, 0, 500).AddTicks(1)));
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 0, 500), halfSecond.GetNextTick(Utc(2026, 1, 1, 12, 0, 0, 500).AddTicks(-1)));
    }

    [Fact]
    public void Interval_ticks_ignore_daylight_saving()
    {
        var hourly = ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromHours(1));
        var t = Utc(2026, 3, 29, 0, 0);   // Madrid springs forward at 01:00 UTC
        for (var i = 0; i < 4; i++) t = hourly.GetNextTick(t)!.Value;
        Assert.Equal(Utc(2026, 3, 29, 4, 0), t);
    }

    [Fact]
    public void Latest_finds_the_last_tick_of_a_long_gap_without_walking_every_tick()
    {
        var perSecond = new CronSchedule("* * * * * *", TimeZoneInfo.Utc);
        Assert.Equal(Utc(2026, 1, 8, 12, 0, 0), perSecond.Latest(Utc(2026, 1, 1, 12, 0), Utc(2026, 1, 8, 12, 0, 0, 400)));
        Assert.Null(perSecond.Latest(Utc(2026, 1, 1, 12, 0), Utc(2026, 1, 1, 12, 0, 0, 999)));

        var yearly = new CronSchedule("0 0 1 1 *", TimeZoneInfo.Utc);
        Assert.Equal(Utc(2030, 1, 1, 0, 0), yearly.Latest(Utc(2026, 6, 1, 0, 0), Utc(2030, 6, 1, 0, 0)));

        var interval = new IntervalSchedule(TimeSpan.FromMilliseconds(500));
        Assert.Equal(Utc(2026, 1, 8, 12, 0, 0), interval.Latest(Utc(2026, 1, 1, 12, 0), Utc(2026, 1, 8, 12, 0, 0, 499)));
        Assert.Null(interval.Latest(Utc(2026, 1, 1, 12, 0), Utc(2026, 1, 1, 12, 0, 0, 499)));
    }

    [Fact]
    public void Cron_in_a_time_zone_fires_at_local_wall_clock_time()
    {
        var weekly = ScheduleDefinition.ForCron("reports.weekly", "reports.build", "0 18 * * FRI", "Europe/Madrid");
        // Friday 2 January 2026, 18:00 in Madrid (CET, UTC+1) is 17:00 UTC.
        Assert.Equal(Utc(2026, 1, 2, 17, 0), weekly.GetNextTick(Utc(2026, 1, 1, 12, 0)));
        // In summer (CEST, UTC+2): Friday 3 July 2026 at 16:00 UTC.
        Assert.Equal(Utc(2026, 7, 3, 16, 0), weekly.GetNextTick(Utc(2026, 7, 1, 0, 0)));
        // Without a zone: UTC.
        Assert.Equal(Utc(2026, 1, 2, 18, 0), ScheduleDefinition.ForCron("w", "t", "0 18 * * FRI").GetNextTick(Utc(2026, 1, 1, 12, 0)));
    }

    [Fact]
    public void Cron_with_six_fields_has_a_seconds_field()
    {
        var every10s = ScheduleDefinition.ForCron("s", "t", "*/10 * * * * *");
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 10), every10s.GetNextTick(Utc(2026, 1, 1, 12, 0, 0)));
        Assert.Equal(Utc(2026, 1, 1, 12, 0, 20), every10s.GetNextTick(Utc(2026, 1, 1, 12, 0, 10)));
        var fiveFields = ScheduleDefinition.ForCron("s", "t", "*/10 * * * *");
        Assert.Equal(Utc(2026, 1, 1, 12, 10), fiveFields.GetNextTick(Utc(2026, 1, 1, 12, 0, 0)));
    }

    [Fact]
    public void Spring_forward_a_daily_0230_job_fires_once_at_0300_on_the_day_that_has_no_0230()
    {
        // Sunday 29 March 2026: Madrid clocks go from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30 does not exist.
        var daily = ScheduleDefinition.ForCron("s", "t", "30 2 * * *", "Europe/Madrid");
        var ticks = Ticks(daily, Utc(2026, 3, 27, 12, 0), 4);
        Assert.Equal(
        [
            Utc(2026, 3, 28, 1, 30),  // 02:30 CET
            Utc(2026, 3, 29, 1, 0),   // 03:00 CEST, the first valid time after the gap
            Utc(2026, 3, 30, 0, 30),  // 02:30 CEST
            Utc(2026, 3, 31, 0, 30),
        ], ticks);
        Assert.Equal(new TimeSpan(3, 0, 0), TimeZoneInfo.ConvertTime(ticks[1], Madrid).TimeOfDay);
    }

    [Fact]
    public void Fall_back_a_daily_0230_job_fires_once_on_the_day_that_has_0230_twice()
    {
        // Sunday 25 October 2026: Madrid clocks go from 03:00 CEST back to 02:00 CET (01:00 UTC); 02:30 happens twice.
        var daily = ScheduleDefinition.ForCron("s", "t", "30 2 * * *", "Europe/Madrid");
        var ticks = Ticks(daily, Utc(2026, 10, 23, 12, 0), 4);
        Assert.Equal(
        [
            Utc(2026, 10, 24, 0, 30),  // 02:30 CEST
            Utc(2026, 10, 25, 0, 30),  // 02:30 CEST, the first of the two; not again at 01:30 UTC (02:30 CET)
            Utc(2026, 10, 26, 1, 30),  // 02:30 CET
            Utc(2026, 10, 27, 1, 30),
        ], ticks);
    }

    [Fact]
    public void Interval_like_cron_keeps_firing_through_both_changes()
    {
        // Every 30 minutes: the repeated hour on the fall-back night is fired twice (real time keeps going).
        var halfHourly = ScheduleDefinition.ForCron("s", "t", "*/30 * * * *", "Europe/Madrid");
        var fallBack = Ticks(halfHourly, Utc(2026, 10, 24, 23, 59), 6);
        Assert.Equal([Utc(2026, 10, 25, 0, 0), Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 25, 1, 0), Utc(2026, 10, 25, 1, 30), Utc(2026, 10, 25, 2, 0), Utc(2026, 10, 25, 2, 30)], fallBack);
        // Spring forward: the skipped hour has no ticks; 30 minutes of real time between each.
        var springForward = Ticks(halfHourly, Utc(2026, 3, 29, 0, 0), 4);
        Assert.Equal([Utc(2026, 3, 29, 0, 30), Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 29, 1, 30), Utc(2026, 3, 29, 2, 0)], springForward);
    }

    [Fact]
    public void Bad_definitions_are_refused_with_clear_errors()
    {
        Assert.Contains("not a valid cron expression", Assert.Throws<ArgumentException>(() => ScheduleDefinition.ForCron("s", "t", "61 * * * *")).Message, StringComparison.Ordinal);
        Assert.Contains("unknown time zone 'Mars/Olympus'", Assert.Throws<ArgumentException>(() => ScheduleDefinition.ForCron("s", "t", "* * * * *", "Mars/Olympus")).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => ScheduleDefinition.ForInterval("s", "t", TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromTicks(15_000)));
        Assert.Contains("is not valid", Assert.Throws<ArgumentException>(() => ScheduleDefinition.ForInterval("bad name", "t", TimeSpan.FromSeconds(1))).Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => ScheduleDefinition.ForInterval("s", " ", TimeSpan.FromSeconds(1)));
        Assert.ThrowsAny<ArgumentException>(() => ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromSeconds(1), configure: o => o.Expires = TimeSpan.Zero));
    }

    [Fact]
    public void The_stored_form_round_trips_and_is_stable()
    {
        var original = ScheduleDefinition.ForCron("reports.weekly", "reports.build", "0 18 * * FRI", "Europe/Madrid", new { year = 2026, region = "eu" }, o =>
        {
            o.Queue = "reports";
            o.Priority = 3;
            o.Expires = TimeSpan.FromMinutes(10);
            o.MissedTicks = MissedTickPolicy.RunOnce;
        });
        var json = original.ToJson();
        var copy = ScheduleDefinition.FromJson("reports.weekly", json);
        Assert.Equal(json, copy.ToJson());
        Assert.Equal(json, ScheduleDefinition.ForCron("reports.weekly", "reports.build", "0 18 * * FRI", "Europe/Madrid", new { year = 2026, region = "eu" }, o =>
        {
            o.Queue = "reports";
            o.Priority = 3;
            o.Expires = TimeSpan.FromMinutes(10);
            o.MissedTicks = MissedTickPolicy.RunOnce;
        }).ToJson());
        Assert.Equal("reports", copy.Queue);
        Assert.Equal(3, copy.Priority);
        Assert.Equal(TimeSpan.FromMinutes(10), copy.Expires);
        Assert.Equal(MissedTickPolicy.RunOnce, copy.MissedTicks);
        Assert.Equal(2026, copy.Kwargs!.Value.GetProperty("year").GetInt32());
        Assert.Equal("cron '0 18 * * FRI' Europe/Madrid", copy.ToString());

        var positional = ScheduleDefinition.ForInterval("s", "math.add", TimeSpan.FromMilliseconds(500), new[] { 2, 3 });
        Assert.Equal(JsonValueKind.Array, ScheduleDefinition.FromJson("s", positional.ToJson()).Args!.Value.ValueKind);
        Assert.Equal("every 500 ms", positional.ToString());
        Assert.Equal("every 5 min", ScheduleDefinition.ForInterval("s", "t", TimeSpan.FromMinutes(5)).ToString());
        Assert.Throws<FormatException>(() => ScheduleDefinition.FromJson("s", "{\"task\":\"t\"}"));
        Assert.Throws<FormatException>(() => ScheduleDefinition.FromJson("s", "not json"));
    }

    private static DateTimeOffset[] Ticks(ScheduleDefinition schedule, DateTimeOffset after, int count)
    {
        var ticks = new DateTimeOffset[count];
        for (var i = 0; i < count; i++) after = ticks[i] = schedule.GetNextTick(after)!.Value;
        return ticks;
    }
}
