using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Celeriac.Messaging;
using Celeriac.Scheduling;
using Cronos;

namespace Celeriac;

/// <summary>
/// A periodic schedule: its name, when it ticks (an interval or a cron expression in a time zone), and the task it
/// sends on each tick with fixed arguments. Immutable; create one with <see cref="ForInterval"/> or <see cref="ForCron"/>
/// (or <c>MapSchedule</c>, which calls them). To pass per-row arguments (one task per device), schedule a wrapper
/// task that sends one task per row; see <c>docs/beat.md</c>.
/// </summary>
public sealed class ScheduleDefinition
{
    private const int MaxNameLength = 200;

    private ScheduleDefinition(string name, string task, TimeSpan? every, string? cron, string? timeZone, JsonElement? args, JsonElement? kwargs,
        ScheduleOptions options, ScheduleSource source)
    {
        ValidateName(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(task);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Expires is { } expires && expires <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), expires, $"Schedule '{name}': Expires must be positive.");
        if (!Enum.IsDefined(options.MissedTicks))
            throw new ArgumentOutOfRangeException(nameof(options), options.MissedTicks, $"Schedule '{name}': unknown missed-tick policy.");
        if (options.Queue is not null && string.IsNullOrWhiteSpace(options.Queue))
            throw new ArgumentException($"Schedule '{name}': Queue must not be blank.", nameof(options));
        Name = name;
        Task = task;
        Every = every;
        Cron = cron;
        TimeZone = timeZone;
        Args = args;
        Kwargs = kwargs;
        Queue = options.Queue;
        Priority = options.Priority;
        Expires = options.Expires;
        MissedTicks = options.MissedTicks;
        Source = source;
        Timing = every is { } period ? new IntervalSchedule(period) : new CronSchedule(cron!, FindZone(name, timeZone));
    }

    /// <summary>Unique name: letters, digits and <c>. _ - :</c>, at most 200 characters.</summary>
    public string Name { get; }

    /// <summary>The task sent on each tick.</summary>
    public string Task { get; }

    /// <summary>The interval, for an interval schedule (ticks on multiples of it since the Unix epoch, UTC); else <see langword="null"/>.</summary>
    public TimeSpan? Every { get; }

    /// <summary>The cron expression (5 fields, or 6 with seconds first), for a cron schedule; else <see langword="null"/>.</summary>
    public string? Cron { get; }

    /// <summary>The time zone id a cron expression is evaluated in (IANA or Windows id); <see langword="null"/> for UTC.</summary>
    public string? TimeZone { get; }

    /// <summary>Positional arguments sent with each tick (a JSON array), if any.</summary>
    public JsonElement? Args { get; }

    /// <summary>Keyword arguments sent with each tick (a JSON object), if any.</summary>
    public JsonElement? Kwargs { get; }

    /// <summary>Queue the task is sent to; <see langword="null"/> for the task's own queue, else the default queue.</summary>
    public string? Queue { get; }

    /// <summary>Priority of the sent message.</summary>
    public int Priority { get; }

    /// <summary>How long a tick's message may wait for a worker after it is sent; <see langword="null"/>: until the next tick is due.</summary>
    public TimeSpan? Expires { get; }

    /// <summary>What happens to ticks that came due while no scheduler ran.</summary>
    public MissedTickPolicy MissedTicks { get; }

    /// <summary>Whether it was defined in code (<c>MapSchedule</c>) or at run time.</summary>
    public ScheduleSource Source { get; }

    internal ScheduleTiming Timing { get; }

    /// <summary>
    /// A schedule that sends <paramref name="task"/> every <paramref name="every"/> (a whole number of milliseconds;
    /// sub-second intervals work), on the multiples of it since the Unix epoch. <paramref name="args"/> follows the
    /// rules of <see cref="ITaskClient.SendAsync(string, object?, Action{SendOptions}?, CancellationToken)"/>: an object
    /// gives keyword arguments, an array positional ones, another value one positional argument.
    /// </summary>
    /// <exception cref="ArgumentException">A bad name, task, interval or option.</exception>
    public static ScheduleDefinition ForInterval(string name, string task, TimeSpan every, object? args = null, Action<ScheduleOptions>? configure = null)
    {
        if (every < TimeSpan.FromMilliseconds(1) || every.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(every), every, $"Schedule '{name}': the interval must be a whole number of milliseconds, at least 1 ms.");
        var (positional, keywords) = TaskArguments.Split(args);
        return new ScheduleDefinition(name, task, every, null, null, positional, keywords, Configure(configure), ScheduleSource.Dynamic);
    }

    /// <summary>
    /// A schedule that sends <paramref name="task"/> at the times of the cron expression <paramref name="cron"/>
    /// (<c>minute hour day-of-month month day-of-week</c>, or six fields with seconds first, e.g. <c>*/10 * * * * *</c>),
    /// evaluated in <paramref name="timeZone"/> (an IANA id such as <c>Europe/Madrid</c>; default UTC), correctly across
    /// daylight-saving changes. <paramref name="args"/> follows the rules of <see cref="ForInterval"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A bad name, task, cron expression, time zone or option.</exception>
    public static ScheduleDefinition ForCron(string name, string task, string cron, string? timeZone = null, object? args = null, Action<ScheduleOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cron);
        try
        {
            _ = new CronSchedule(cron, TimeZoneInfo.Utc);
        }
        catch (CronFormatException e)
        {
            throw new ArgumentException($"Schedule '{name}': '{cron}' is not a valid cron expression: {e.Message}", nameof(cron), e);
        }
        var (positional, keywords) = TaskArguments.Split(args);
        return new ScheduleDefinition(name, task, null, cron.Trim(), string.IsNullOrWhiteSpace(timeZone) ? null : timeZone.Trim(), positional, keywords, Configure(configure), ScheduleSource.Dynamic);
    }

    /// <summary>The first tick strictly after <paramref name="after"/>, or <see langword="null"/> when the schedule has no more ticks.</summary>
    public DateTimeOffset? GetNextTick(DateTimeOffset after) => Timing.Next(after);

    /// <summary>When it ticks, e.g. <c>every 500 ms</c> or <c>cron '0 18 * * FRI' Europe/Madrid</c>.</summary>
    public override string ToString() => Every is { } every
        ? $"every {Format(every)}"
        : $"cron '{Cron}' {TimeZone ?? "UTC"}";

    internal ScheduleDefinition WithSource(ScheduleSource source) =>
        source == Source ? this : new ScheduleDefinition(Name, Task, Every, Cron, TimeZone, Args, Kwargs, Options(), source);

    internal ScheduleOptions Options() => new() { Queue = Queue, Priority = Priority, Expires = Expires, MissedTicks = MissedTicks };

    /// <summary>The stored form. The same definition always gives the same text, so an unchanged code schedule is not a change.</summary>
    internal string ToJson() => JsonSerializer.Serialize(new ScheduleDocument
    {
        Task = Task,
        EveryMs = Every is { } e ? (long)e.TotalMilliseconds : null,
        Cron = Cron,
        TimeZone = TimeZone,
        Args = Args,
        Kwargs = Kwargs,
        Queue = Queue,
        Priority = Priority == 0 ? null : Priority,
        ExpiresMs = Expires is { } x ? (long)x.TotalMilliseconds : null,
        Missed = MissedTicks == MissedTickPolicy.RunOnce ? "run-once" : "skip",
        Source = Source == ScheduleSource.Code ? "code" : "dynamic",
    }, ScheduleJsonContext.Default.ScheduleDocument);

    /// <summary>Reads the stored form.</summary>
    /// <exception cref="FormatException">The text is not a valid schedule.</exception>
    internal static ScheduleDefinition FromJson(string name, string json)
    {
        try
        {
            var d = JsonSerializer.Deserialize(json, ScheduleJsonContext.Default.ScheduleDocument) ?? throw new FormatException("The definition is null.");
            var options = new ScheduleOptions
            {
                Queue = d.Queue,
                Priority = d.Priority ?? 0,
                Expires = d.ExpiresMs is { } x ? TimeSpan.FromMilliseconds(x) : null,
                MissedTicks = d.Missed switch
                {
                    null or "skip" => MissedTickPolicy.Skip,
                    "run-once" => MissedTickPolicy.RunOnce,
                    _ => throw new FormatException($"Unknown missed-tick policy '{d.Missed}'."),
                },
            };
            var source = d.Source == "code" ? ScheduleSource.Code : ScheduleSource.Dynamic;
            if (d.Task is null) throw new FormatException("The definition names no task.");
            if ((d.EveryMs is null) == (d.Cron is null)) throw new FormatException("The definition needs exactly one of every_ms and cron.");
            return new ScheduleDefinition(name, d.Task, d.EveryMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null, d.Cron, d.TimeZone, d.Args, d.Kwargs, options, source);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or CronFormatException)
        {
            throw new FormatException($"Schedule '{name}' has an invalid stored definition: {e.Message}", e);
        }
    }

    private static ScheduleOptions Configure(Action<ScheduleOptions>? configure)
    {
        var options = new ScheduleOptions();
        configure?.Invoke(options);
        return options;
    }

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':'))
            throw new ArgumentException($"Schedule name '{name}' is not valid: use letters, digits and . _ - : (at most {MaxNameLength} characters).", nameof(name));
    }

    private static TimeZoneInfo FindZone(string name, string? id)
    {
        if (id is null) return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"Schedule '{name}': unknown time zone '{id}' (use an IANA id such as Europe/Madrid).", nameof(id), e);
        }
    }

    private static string Format(TimeSpan every) => every switch
    {
        _ when every.TotalMilliseconds < 1000 || every.Milliseconds != 0 => $"{every.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms",
        _ when every.TotalSeconds < 60 || every.Seconds != 0 => $"{every.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s",
        _ when every.TotalMinutes < 60 || every.Minutes != 0 => $"{every.TotalMinutes.ToString(CultureInfo.InvariantCulture)} min",
        _ when every.TotalHours < 24 || every.Hours != 0 => $"{every.TotalHours.ToString(CultureInfo.InvariantCulture)} h",
        _ => $"{every.TotalDays.ToString(CultureInfo.InvariantCulture)} d",
    };
}

/// <summary>The stored JSON form of a schedule (snake_case, milliseconds), independent of the public type.</summary>
internal sealed class ScheduleDocument
{
    [JsonPropertyName("task")] public string? Task { get; set; }
    [JsonPropertyName("every_ms")] public long? EveryMs { get; set; }
    [JsonPropertyName("cron")] public string? Cron { get; set; }
    [JsonPropertyName("tz")] public string? TimeZone { get; set; }
    [JsonPropertyName("args")] public JsonElement? Args { get; set; }
    [JsonPropertyName("kwargs")] public JsonElement? Kwargs { get; set; }
    [JsonPropertyName("queue")] public string? Queue { get; set; }
    [JsonPropertyName("priority")] public int? Priority { get; set; }
    [JsonPropertyName("expires_ms")] public long? ExpiresMs { get; set; }
    [JsonPropertyName("missed")] public string? Missed { get; set; }
    [JsonPropertyName("source")] public string? Source { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ScheduleDocument))]
internal sealed partial class ScheduleJsonContext : JsonSerializerContext;
