using System.Globalization;
using System.Text.Json;
using Celeriac.AspNetCore.Channels;
using Celeriac.Messaging;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using static Celeriac.AspNetCore.Dashboard.DashboardEndpoints;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>
/// The handlers of the dashboard's JSON API. Optional services (<see cref="IWorkerControl"/>, <see cref="IDeadLetters"/>,
/// <see cref="ITaskHistory"/>, <see cref="IScheduleManager"/>, <see cref="IEventStore"/>) are looked up per request:
/// an app without one gets 501 from its endpoints and "not available" on its page.
/// </summary>
internal sealed class DashboardApi(IServiceProvider services, DashboardOptions options)
{
    private const int MaxIds = 1000;

    private DashboardSampler Sampler => services.GetRequiredService<DashboardSampler>();

    private TimeProvider Time => services.GetRequiredService<TimeProvider>();

    private T Need<T>(string what) where T : class =>
        services.GetService<T>() ?? throw DashboardHttpException.Missing(typeof(T).Name, what);

    // --- page state ---

    public Task InfoAsync(HttpContext context)
    {
        var features = new DashboardFeatures(
            services.GetService<IWorkerControl>() is not null,
            services.GetService<IDeadLetters>() is not null,
            services.GetService<ITaskHistory>() is not null,
            services.GetService<IScheduleManager>() is not null,
            services.GetService<IEventStore>() is not null,
            services.GetService<IResultStore>() is not null);
        var info = new DashboardInfo(options.Title, options.ReadOnly, !RequiresAuthorization(context.GetEndpoint()), Sampler.Node, features);
        return WriteAsync(context, info, DashboardJson.Default.DashboardInfo);
    }

    public Task AntiforgeryAsync(HttpContext context)
    {
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        return WriteAsync(context, new AntiforgeryToken(tokens.HeaderName ?? "RequestVerificationToken", tokens.RequestToken ?? ""), DashboardJson.Default.AntiforgeryToken);
    }

    public async Task SnapshotAsync(HttpContext context) =>
        await WriteAsync(context, await Sampler.CurrentAsync(context.RequestAborted).ConfigureAwait(false), DashboardJson.Default.DashboardSnapshot).ConfigureAwait(false);

    public Task HistoryAsync(HttpContext context)
    {
        var minutes = QueryInt(context, "minutes", 60, 1, 60);
        var history = services.GetRequiredService<DashboardHistory>();
        return WriteAsync(context, history.Read(Time.GetUtcNow().ToUnixTimeSeconds() - minutes * 60), DashboardJson.Default.RateSeries);
    }

    // --- queues ---

    public async Task PurgeAsync(HttpContext context, JsonElement body)
    {
        var queue = Text(body, "queue", required: true, maxLength: 200)!;
        var transport = services.GetRequiredService<ITaskTransport>();
        var removed = await transport.PurgeAsync(queue, context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new CountAnswer((int)Math.Min(int.MaxValue, removed)), DashboardJson.Default.CountAnswer).ConfigureAwait(false);
    }

    // --- tasks ---

    public async Task TasksAsync(HttpContext context)
    {
        var history = Need<ITaskHistory>("Task history");
        var state = Query(context, "state", 20)?.ToUpperInvariant();
        var tasks = await history.FindRecentAsync(Query(context, "task", 200), state, QueryInt(context, "limit", 100, 1, 1000), context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new TaskList(tasks), DashboardJson.Default.TaskList).ConfigureAwait(false);
    }

    public async Task TaskAsync(HttpContext context)
    {
        var id = Id(context.Request.RouteValues["id"] as string);
        var history = services.GetService<ITaskHistory>();
        var results = services.GetService<IResultStore>();
        if (history is null && results is null) throw DashboardHttpException.Missing(nameof(ITaskHistory), "Task lookup");
        var story = history is null ? [] : await history.GetStoryAsync(id, context.RequestAborted).ConfigureAwait(false);
        var result = results is null ? null : await results.GetAsync(id, context.RequestAborted).ConfigureAwait(false);
        var dead = services.GetService<IDeadLetters>() is { } letters ? await letters.GetAsync(id, context.RequestAborted).ConfigureAwait(false) : null;
        if (story.Count == 0 && result is null && dead is null) throw DashboardHttpException.NotFound($"No task '{id}' in the journal, the results or the dead letters (it may have expired).");
        await WriteAsync(context, new TaskStory(id, story, result, dead is null ? null : DeadLetterRow.From(dead)), DashboardJson.Default.TaskStory).ConfigureAwait(false);
    }

    public async Task RetryAsync(HttpContext context, JsonElement body)
    {
        var id = Id(Text(body, "id", required: true, maxLength: 200));
        var letters = Need<IDeadLetters>("Dead-letter repair");
        var count = await letters.RequeueAsync(new DeadLetterFilter { Id = id, Limit = 1 }, context.RequestAborted).ConfigureAwait(false);
        if (count == 0) throw DashboardHttpException.NotFound($"Task '{id}' is not in the dead letters: only a task that failed for good can be retried.");
        await WriteAsync(context, new CountAnswer(count), DashboardJson.Default.CountAnswer).ConfigureAwait(false);
    }

    public async Task RevokeAsync(HttpContext context, JsonElement body)
    {
        var id = Id(Text(body, "id", required: true, maxLength: 200));
        var control = Need<IWorkerControl>("Remote control of workers");
        var replies = await control.RevokeAsync(id, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new ReplyList(replies), DashboardJson.Default.ReplyList).ConfigureAwait(false);
    }

    // --- dead letters ---

    private static DeadLetterFilter FilterFrom(HttpContext context) => new()
    {
        Queue = Query(context, "queue", 200),
        Task = Query(context, "task", 200),
        Reason = Query(context, "reason", 100),
        Text = Query(context, "text"),
        Since = Date(Query(context, "since", 40), "since"),
        Until = Date(Query(context, "until", 40), "until"),
        Limit = QueryInt(context, "limit", 200, 1, 1000),
    };

    private static DeadLetterFilter FilterFrom(JsonElement body)
    {
        if (!body.TryGetProperty("filter", out var f) || f.ValueKind == JsonValueKind.Null) return new DeadLetterFilter();
        if (f.ValueKind != JsonValueKind.Object) throw DashboardHttpException.BadRequest("'filter' must be an object.");
        return new DeadLetterFilter
        {
            Queue = Text(f, "queue", maxLength: 200),
            Task = Text(f, "task", maxLength: 200),
            Reason = Text(f, "reason", maxLength: 100),
            Text = Text(f, "text"),
            Since = Date(Text(f, "since", maxLength: 40), "since"),
            Until = Date(Text(f, "until", maxLength: 40), "until"),
            Limit = MaxIds,
        };
    }

    public async Task DeadLettersAsync(HttpContext context)
    {
        var letters = Need<IDeadLetters>("Dead-letter repair");
        var filter = FilterFrom(context);
        var list = await letters.ListAsync(filter with { Limit = filter.Limit + 1 }, context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new DeadLetterList([.. list.Take(filter.Limit).Select(DeadLetterRow.From)], list.Count > filter.Limit), DashboardJson.Default.DeadLetterList).ConfigureAwait(false);
    }

    public async Task DeadLetterAsync(HttpContext context)
    {
        var letters = Need<IDeadLetters>("Dead-letter repair");
        var id = Id(context.Request.RouteValues["id"] as string);
        var letter = await letters.GetAsync(id, context.RequestAborted).ConfigureAwait(false) ?? throw DashboardHttpException.NotFound($"No dead letter '{id}'.");
        await WriteAsync(context, DeadLetterRow.From(letter), DashboardJson.Default.DeadLetterRow).ConfigureAwait(false);
    }

    public Task RequeueAsync(HttpContext context, JsonElement body) =>
        BulkAsync(context, body, (letters, filter, ct) => letters.RequeueAsync(filter, ct));

    public Task DeleteAsync(HttpContext context, JsonElement body) =>
        BulkAsync(context, body, (letters, filter, ct) => letters.DeleteAsync(filter, ct));

    /// <summary>By <c>ids</c> (one call each), or by <c>filter</c> (<c>{}</c> is all: then <c>all: true</c> must say so).</summary>
    private async Task BulkAsync(HttpContext context, JsonElement body, Func<IDeadLetters, DeadLetterFilter, CancellationToken, ValueTask<int>> act)
    {
        var letters = Need<IDeadLetters>("Dead-letter repair");
        var count = 0;
        if (body.TryGetProperty("ids", out var ids) && ids.ValueKind != JsonValueKind.Null)
        {
            if (ids.ValueKind != JsonValueKind.Array) throw DashboardHttpException.BadRequest("'ids' must be an array of task ids.");
            if (ids.GetArrayLength() > MaxIds) throw DashboardHttpException.BadRequest($"At most {MaxIds} ids at once.");
            var list = new List<string>();
            foreach (var item in ids.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw DashboardHttpException.BadRequest("'ids' must be an array of task ids.");
                list.Add(Id(item.GetString()));
            }
            foreach (var id in list.Distinct(StringComparer.Ordinal))
                count += await act(letters, new DeadLetterFilter { Id = id, Limit = 1 }, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            var filter = FilterFrom(body);
            var everything = filter is { Queue: null, Task: null, Reason: null, Text: null, Since: null, Until: null };
            if (everything && !(body.TryGetProperty("all", out var all) && all.ValueKind == JsonValueKind.True))
                throw DashboardHttpException.BadRequest("Give 'ids', a 'filter', or 'all': true.");
            count = await act(letters, filter, context.RequestAborted).ConfigureAwait(false);
        }
        await WriteAsync(context, new CountAnswer(count), DashboardJson.Default.CountAnswer).ConfigureAwait(false);
    }

    // --- schedules ---

    public async Task SchedulesAsync(HttpContext context)
    {
        var manager = Need<IScheduleManager>("Schedules");
        var now = Time.GetUtcNow();
        var schedules = await manager.ListAsync(context.RequestAborted).ConfigureAwait(false);
        IReadOnlyList<ProcessInfo>? processes = null;
        if (services.GetService<IWorkerControl>() is { } control)
        {
            try { processes = await control.GetProcessesAsync(context.RequestAborted).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException) { processes = null; }
        }
        var rows = schedules.Select(s => Row(s, now)).ToArray();
        await WriteAsync(context, new ScheduleList(rows, Sampler.Beat(processes)), DashboardJson.Default.ScheduleList).ConfigureAwait(false);
    }

    private static ScheduleRow Row(ScheduleInfo s, DateTimeOffset now)
    {
        var d = s.Definition;
        return new ScheduleRow(
            d.Name, d.Task, d.Source == ScheduleSource.Code ? "code" : "dynamic", d.ToString(),
            d.Every is { } every ? (long)every.TotalMilliseconds : null, d.Cron, d.TimeZone,
            d.Args?.GetRawText(), d.Kwargs?.GetRawText(), d.Queue, d.Priority,
            d.MissedTicks == MissedTickPolicy.RunOnce ? "run-once" : "skip", s.Paused,
            s.LastTick, s.LastFiredAt, s.NextTick, s.UpdatedAt, Missed(s, now));
    }

    /// <summary>Ticks due since the last one fired (a grace of 5 s) that no scheduler fired: 0 while a leader runs. At most 999.</summary>
    internal static int Missed(ScheduleInfo s, DateTimeOffset now)
    {
        if (s.Paused || (s.LastTick ?? s.UpdatedAt) is not { } from) return 0;
        var until = now - TimeSpan.FromSeconds(5);
        var missed = 0;
        for (var tick = s.Definition.GetNextTick(from); tick is { } t && t <= until && missed < 999; tick = s.Definition.GetNextTick(t)) missed++;
        return missed;
    }

    public Task CronPreviewAsync(HttpContext context)
    {
        var cron = Query(context, "cron", 200) ?? throw DashboardHttpException.BadRequest("'cron' is required.");
        var zone = Query(context, "tz", 100);
        var count = QueryInt(context, "count", 5, 1, 20);
        var definition = ScheduleDefinition.ForCron("preview", "preview", cron, zone);
        var info = zone is null ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(zone);
        var next = new List<DateTimeOffset>();
        for (var tick = definition.GetNextTick(Time.GetUtcNow()); tick is { } t && next.Count < count; tick = definition.GetNextTick(t)) next.Add(t);
        var local = next.Select(t => TimeZoneInfo.ConvertTime(t, info).ToString("ddd yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)).ToArray();
        return WriteAsync(context, new CronPreview(cron, zone ?? "UTC", next, local), DashboardJson.Default.CronPreview);
    }

    public Task PauseAsync(HttpContext context, JsonElement body) =>
        ByNameAsync(context, body, (m, name, ct) => m.PauseAsync(name, ct), "paused");

    public Task ResumeAsync(HttpContext context, JsonElement body) =>
        ByNameAsync(context, body, (m, name, ct) => m.ResumeAsync(name, ct), "resumed");

    public Task RemoveScheduleAsync(HttpContext context, JsonElement body) =>
        ByNameAsync(context, body, (m, name, ct) => m.RemoveAsync(name, ct), "removed");

    private async Task ByNameAsync(HttpContext context, JsonElement body, Func<IScheduleManager, string, CancellationToken, ValueTask<bool>> act, string done)
    {
        var manager = Need<IScheduleManager>("Schedules");
        var name = Text(body, "name", required: true, maxLength: 200)!;
        if (!await act(manager, name, context.RequestAborted).ConfigureAwait(false)) throw DashboardHttpException.NotFound($"No schedule '{name}'.");
        await WriteAsync(context, new OkAnswer(true, $"Schedule '{name}' {done}."), DashboardJson.Default.OkAnswer).ConfigureAwait(false);
    }

    public async Task RunNowAsync(HttpContext context, JsonElement body)
    {
        var manager = Need<IScheduleManager>("Schedules");
        var name = Text(body, "name", required: true, maxLength: 200)!;
        var schedule = await manager.GetAsync(name, context.RequestAborted).ConfigureAwait(false) ?? throw DashboardHttpException.NotFound($"No schedule '{name}'.");
        var d = schedule.Definition;
        var client = services.GetRequiredService<ITaskClient>();
        var handle = await client.SendAsync(new TaskSignature(d.Task, d.Args, d.Kwargs, TaskIds.New(), d.Queue, d.Priority), context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new OkAnswer(true, handle.Id), DashboardJson.Default.OkAnswer).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds (<c>create: true</c>) or replaces a dynamic schedule: <c>{ name, task, every: seconds | cron, timeZone,
    /// args: [..] or {..}, queue, missedTicks: "skip" | "run-once" }</c>.
    /// </summary>
    public async Task SaveScheduleAsync(HttpContext context, JsonElement body)
    {
        var manager = Need<IScheduleManager>("Schedules");
        var name = Text(body, "name", required: true, maxLength: 200)!;
        var task = Text(body, "task", required: true, maxLength: 200)!;
        var cron = Text(body, "cron", maxLength: 200);
        var zone = Text(body, "timeZone", maxLength: 100);
        var queue = Text(body, "queue", maxLength: 200);
        var missed = Text(body, "missedTicks", maxLength: 20) switch
        {
            null or "skip" => MissedTickPolicy.Skip,
            "run-once" => MissedTickPolicy.RunOnce,
            _ => throw DashboardHttpException.BadRequest("'missedTicks' must be 'skip' or 'run-once'."),
        };
        JsonElement? args = null;
        if (body.TryGetProperty("args", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            if (a.ValueKind is not (JsonValueKind.Array or JsonValueKind.Object)) throw DashboardHttpException.BadRequest("'args' must be a JSON array (positional) or object (keyword arguments).");
            args = a;
        }
        TimeSpan? every = null;
        if (body.TryGetProperty("every", out var e) && e.ValueKind != JsonValueKind.Null)
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out var seconds) || !double.IsFinite(seconds) || seconds < 0.001 || seconds > 366 * 86400)
                throw DashboardHttpException.BadRequest("'every' must be a number of seconds from 0.001 to a year.");
            every = TimeSpan.FromMilliseconds(Math.Round(seconds * 1000));
        }
        if ((every is null) == (cron is null)) throw DashboardHttpException.BadRequest("Give exactly one of 'every' (seconds) and 'cron'.");
        void Configure(ScheduleOptions o)
        {
            o.Queue = queue;
            o.MissedTicks = missed;
        }
        var definition = every is { } period
            ? ScheduleDefinition.ForInterval(name, task, period, args, Configure)
            : ScheduleDefinition.ForCron(name, task, cron!, zone, args, Configure);
        var create = body.TryGetProperty("create", out var c) && c.ValueKind == JsonValueKind.True;
        if (create) await manager.AddAsync(definition, context.RequestAborted).ConfigureAwait(false);
        else if (!await manager.UpdateAsync(definition, context.RequestAborted).ConfigureAwait(false)) throw DashboardHttpException.NotFound($"No schedule '{name}'.");
        await WriteAsync(context, new OkAnswer(true, $"Schedule '{name}' {(create ? "added" : "saved")}."), DashboardJson.Default.OkAnswer).ConfigureAwait(false);
    }

    // --- events, workers, channels ---

    public async Task EventsAsync(HttpContext context)
    {
        var store = Need<IEventStore>("Durable events");
        var subscriptions = await store.GetSubscriptionsAsync(context.RequestAborted).ConfigureAwait(false);
        var rows = subscriptions.OrderBy(s => s.Name, StringComparer.Ordinal).Select(s => new SubscriptionRow(s.Name, s.Pattern, s.Queue, s.CreatedAt)).ToArray();
        await WriteAsync(context, new SubscriptionList(rows), DashboardJson.Default.SubscriptionList).ConfigureAwait(false);
    }

    public async Task WorkersAsync(HttpContext context)
    {
        var control = Need<IWorkerControl>("Worker presence");
        var processes = await control.GetProcessesAsync(context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new ProcessList(processes), DashboardJson.Default.ProcessList).ConfigureAwait(false);
    }

    public async Task PingAsync(HttpContext context, JsonElement body)
    {
        var control = Need<IWorkerControl>("Remote control of workers");
        var id = Text(body, "id", maxLength: 300);
        var replies = await control.PingAsync(id, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new ReplyList(replies), DashboardJson.Default.ReplyList).ConfigureAwait(false);
    }

    public async Task StopAsync(HttpContext context, JsonElement body)
    {
        var control = Need<IWorkerControl>("Remote control of workers");
        var id = Text(body, "id", required: true, maxLength: 300)!;
        var reply = await control.StopAsync(id, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new ReplyList(reply is null ? [] : [reply]), DashboardJson.Default.ReplyList).ConfigureAwait(false);
    }

    public async Task ConcurrencyAsync(HttpContext context, JsonElement body)
    {
        var control = Need<IWorkerControl>("Remote control of workers");
        var id = Text(body, "id", required: true, maxLength: 300)!;
        if (!body.TryGetProperty("concurrency", out var c) || c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out var concurrency) || concurrency is < 1 or > 10_000)
            throw DashboardHttpException.BadRequest("'concurrency' must be a whole number from 1 to 10000.");
        var reply = await control.SetConcurrencyAsync(id, concurrency, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, new ReplyList(reply is null ? [] : [reply]), DashboardJson.Default.ReplyList).ConfigureAwait(false);
    }

    public async Task ChannelsAsync(HttpContext context)
    {
        var node = services.GetRequiredService<ChannelsNode>();
        Dictionary<string, int>? cluster = null;
        if (services.GetService<IWorkerControl>() is { } control)
        {
            cluster = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var p in await control.GetProcessesAsync(context.RequestAborted).ConfigureAwait(false))
                foreach (var (group, count) in p.Groups) cluster[group] = cluster.GetValueOrDefault(group) + count;
        }
        await WriteAsync(context, new ChannelGroupsAnswer(node.Id, node.LocalGroupCounts(), cluster), DashboardJson.Default.ChannelGroupsAnswer).ConfigureAwait(false);
    }

    // --- input ---

    private static string Id(string? id)
    {
        if (string.IsNullOrWhiteSpace(id)) throw DashboardHttpException.BadRequest("A task id is required.");
        id = id.Trim();
        if (id.Length > 200 || id.Any(char.IsControl)) throw DashboardHttpException.BadRequest("That is not a task id.");
        return id;
    }

    private static DateTimeOffset? Date(string? value, string name) =>
        value is null ? null
        : DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at
        : throw DashboardHttpException.BadRequest($"'{name}' must be a date and time (ISO 8601).");
}
