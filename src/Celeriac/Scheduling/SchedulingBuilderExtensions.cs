using Celeriac.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac;

/// <summary>
/// Maps periodic schedules (beat), on the builder (<c>AddCeleriac(c =&gt; c.MapSchedule(…))</c>) or on the built host
/// (<c>app.MapSchedule(…)</c>). A schedule sends its task on every tick, once across every scheduler replica; the
/// scheduler runs in <c>all</c> and <c>beat</c> processes. See <c>docs/beat.md</c>.
/// </summary>
public static class SchedulingBuilderExtensions
{
    /// <summary>
    /// Sends <paramref name="task"/> every <paramref name="every"/> (a whole number of milliseconds; 500 ms works), on
    /// the multiples of it since the Unix epoch (UTC), with <paramref name="args"/> (an object gives keyword arguments, an
    /// array positional ones, as in <see cref="ITaskClient.SendAsync(string, object?, Action{SendOptions}?, CancellationToken)"/>).
    /// </summary>
    /// <param name="builder">The Celeriac builder.</param>
    /// <param name="name">Unique schedule name (letters, digits, <c>. _ - :</c>).</param>
    /// <param name="task">The task to send.</param>
    /// <param name="every">The interval.</param>
    /// <param name="args">The task's arguments, the same on every tick.</param>
    /// <param name="configure">Queue, priority, expiry and missed-tick policy (<see cref="ScheduleOptions"/>).</param>
    /// <returns>The schedule as mapped.</returns>
    /// <exception cref="ArgumentException">A bad name, task, interval or option.</exception>
    /// <exception cref="InvalidOperationException">A schedule with that name is already mapped.</exception>
    public static ScheduleDefinition MapSchedule(this CeleriacBuilder builder, string name, string task, TimeSpan every, object? args = null, Action<ScheduleOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return SchedulingServices.RegistryOf(builder.Services).Add(ScheduleDefinition.ForInterval(name, task, every, args, configure));
    }

    /// <summary>
    /// Sends <paramref name="task"/> at the times of the cron expression <paramref name="cron"/> (five fields, or six
    /// with seconds first) in <paramref name="timeZone"/> (an IANA id such as <c>Europe/Madrid</c>; default UTC),
    /// correctly across daylight-saving changes, with <paramref name="args"/>.
    /// </summary>
    /// <param name="builder">The Celeriac builder.</param>
    /// <param name="name">Unique schedule name (letters, digits, <c>. _ - :</c>).</param>
    /// <param name="task">The task to send.</param>
    /// <param name="cron">The cron expression, e.g. <c>0 18 * * FRI</c> or <c>*/10 * * * * *</c>.</param>
    /// <param name="timeZone">The time zone the expression is read in; <see langword="null"/> for UTC.</param>
    /// <param name="args">The task's arguments, the same on every tick.</param>
    /// <param name="configure">Queue, priority, expiry and missed-tick policy (<see cref="ScheduleOptions"/>).</param>
    /// <returns>The schedule as mapped.</returns>
    /// <exception cref="ArgumentException">A bad name, task, cron expression, time zone or option.</exception>
    /// <exception cref="InvalidOperationException">A schedule with that name is already mapped.</exception>
    public static ScheduleDefinition MapSchedule(this CeleriacBuilder builder, string name, string task, string cron, string? timeZone = null, object? args = null, Action<ScheduleOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return SchedulingServices.RegistryOf(builder.Services).Add(ScheduleDefinition.ForCron(name, task, cron, timeZone, args, configure));
    }

    /// <summary>Maps an interval schedule on a built host; see <see cref="MapSchedule(CeleriacBuilder, string, string, TimeSpan, object?, Action{ScheduleOptions}?)"/>.</summary>
    /// <param name="host">The built host (a <c>WebApplication</c> or a generic host).</param>
    /// <param name="name">Unique schedule name.</param>
    /// <param name="task">The task to send.</param>
    /// <param name="every">The interval.</param>
    /// <param name="args">The task's arguments.</param>
    /// <param name="configure">Queue, priority, expiry and missed-tick policy.</param>
    /// <returns>The schedule as mapped.</returns>
    public static ScheduleDefinition MapSchedule(this IHost host, string name, string task, TimeSpan every, object? args = null, Action<ScheduleOptions>? configure = null) =>
        RegistryOf(host).Add(ScheduleDefinition.ForInterval(name, task, every, args, configure));

    /// <summary>Maps a cron schedule on a built host; see <see cref="MapSchedule(CeleriacBuilder, string, string, string, string?, object?, Action{ScheduleOptions}?)"/>.</summary>
    /// <param name="host">The built host (a <c>WebApplication</c> or a generic host).</param>
    /// <param name="name">Unique schedule name.</param>
    /// <param name="task">The task to send.</param>
    /// <param name="cron">The cron expression.</param>
    /// <param name="timeZone">The time zone; <see langword="null"/> for UTC.</param>
    /// <param name="args">The task's arguments.</param>
    /// <param name="configure">Queue, priority, expiry and missed-tick policy.</param>
    /// <returns>The schedule as mapped.</returns>
    public static ScheduleDefinition MapSchedule(this IHost host, string name, string task, string cron, string? timeZone = null, object? args = null, Action<ScheduleOptions>? configure = null) =>
        RegistryOf(host).Add(ScheduleDefinition.ForCron(name, task, cron, timeZone, args, configure));

    /// <summary>Changes the scheduler's options (leader lease, reload interval).</summary>
    public static CeleriacBuilder ConfigureBeat(this CeleriacBuilder builder, Action<BeatOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Configure(configure);
        return builder;
    }

    private static ScheduleRegistry RegistryOf(IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.Services.GetService<ScheduleRegistry>()
            ?? throw new InvalidOperationException("Call services.AddCeleriac(...) before MapSchedule.");
    }
}
