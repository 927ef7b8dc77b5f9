using Cronos;

namespace Celeriac.Scheduling;

/// <summary>
/// A cron expression evaluated in a time zone by Cronos: five fields, or six with a leading seconds field. Across
/// daylight-saving changes it behaves as cron users expect: a time skipped by the spring-forward change (02:30 on
/// that night in Europe/Madrid) fires once at the first valid time after the gap (03:00); a time repeated by the
/// fall-back change fires once, at its first occurrence; expressions that fire every second, minute or hour keep
/// firing through both.
/// </summary>
internal sealed class CronSchedule : ScheduleTiming
{
    private readonly CronExpression _expression;
    private readonly TimeZoneInfo _zone;

    public CronSchedule(string expression, TimeZoneInfo zone)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(expression);
        var fields = expression.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        _expression = CronExpression.Parse(expression, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        _zone = zone ?? throw new ArgumentNullException(nameof(zone));
    }

    public override DateTimeOffset? Next(DateTimeOffset after) =>
        _expression.GetNextOccurrence(after, _zone, inclusive: false)?.ToUniversalTime();
}
