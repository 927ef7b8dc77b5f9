using System.Text.Json;
using System.Text.Json.Serialization;
using Celeriac.Operations;
using Celeriac.Transport;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>One live message of the overview (and every page): what the sampler read this second.</summary>
internal sealed record DashboardSnapshot(
    string Type,
    string Node,
    DateTimeOffset At,
    RateSeries Rates,
    double? P50,
    double? P95,
    int RunTimeSamples,
    IReadOnlyList<QueueRow> Queues,
    long DeadLetters,
    IReadOnlyList<ProcessInfo>? Processes,
    BeatInfo Beat,
    IReadOnlyDictionary<string, int> Groups,
    IReadOnlyList<string> Errors);

internal sealed record QueueRow(string Queue, long Ready, long Delayed, long Leased, long DeadLetters, double? OldestReadyAgeSeconds, double? InPerSecond, double? OutPerSecond);

/// <param name="Here">This process leads the beat.</param>
/// <param name="RunsHere">This process runs a scheduler.</param>
/// <param name="Leader">The leader's node id when known (this process).</param>
/// <param name="Schedulers">Live processes that run a scheduler, from presence (null without it).</param>
internal sealed record BeatInfo(bool Here, bool RunsHere, string? Leader, IReadOnlyList<string>? Schedulers);

internal sealed record DashboardFeatures(bool Workers, bool DeadLetters, bool History, bool Schedules, bool Events, bool Results);

internal sealed record DashboardInfo(string Title, bool ReadOnly, bool LoopbackOnly, string Node, DashboardFeatures Features);

internal sealed record AntiforgeryToken(string Header, string Token);

internal sealed record ErrorAnswer(string Error);

internal sealed record CountAnswer(int Count);

internal sealed record OkAnswer(bool Ok, string Message);

internal sealed record TaskList(IReadOnlyList<TaskEvent> Tasks);

internal sealed record TaskStory(string Id, IReadOnlyList<TaskEvent> Story, TaskResult? Result, DeadLetterRow? DeadLetter);

internal sealed record DeadLetterRow(
    string Id, string Queue, string Task, string? Args, string? Kwargs, int Retries, int DeliveryCount,
    string Reason, string? ErrorType, string ErrorMessage, string? StackTrace, DateTimeOffset FailedAt)
{
    public static DeadLetterRow From(DeadLetterView v) => new(
        v.Id, v.Letter.Queue, v.Task, v.Args, v.Kwargs, v.Retries, v.Letter.DeliveryCount,
        v.Letter.Info.Reason, v.Letter.Info.ErrorType, v.Letter.Info.ErrorMessage, v.Letter.Info.StackTrace, v.Letter.FailedAt);
}

internal sealed record DeadLetterList(IReadOnlyList<DeadLetterRow> DeadLetters, bool Truncated);

internal sealed record ScheduleRow(
    string Name, string Task, string Source, string When, long? EveryMs, string? Cron, string? TimeZone,
    string? Args, string? Kwargs, string? Queue, int Priority, string MissedTicks, bool Paused,
    DateTimeOffset? LastTick, DateTimeOffset? LastFiredAt, DateTimeOffset? NextTick, DateTimeOffset? UpdatedAt, int Missed);

internal sealed record ScheduleList(IReadOnlyList<ScheduleRow> Schedules, BeatInfo Beat);

internal sealed record CronPreview(string Cron, string TimeZone, IReadOnlyList<DateTimeOffset> Next, IReadOnlyList<string> Local);

internal sealed record SubscriptionRow(string Name, string Pattern, string Queue, DateTimeOffset CreatedAt);

internal sealed record SubscriptionList(IReadOnlyList<SubscriptionRow> Subscriptions);

internal sealed record ProcessList(IReadOnlyList<ProcessInfo> Processes);

internal sealed record ReplyList(IReadOnlyList<ControlReply> Replies);

internal sealed record ChannelGroupsAnswer(string Node, IReadOnlyDictionary<string, int> Local, IReadOnlyDictionary<string, int>? Cluster);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(DashboardSnapshot))]
[JsonSerializable(typeof(RateSeries))]
[JsonSerializable(typeof(DashboardInfo))]
[JsonSerializable(typeof(AntiforgeryToken))]
[JsonSerializable(typeof(ErrorAnswer))]
[JsonSerializable(typeof(CountAnswer))]
[JsonSerializable(typeof(OkAnswer))]
[JsonSerializable(typeof(TaskList))]
[JsonSerializable(typeof(TaskStory))]
[JsonSerializable(typeof(DeadLetterRow))]
[JsonSerializable(typeof(DeadLetterList))]
[JsonSerializable(typeof(ScheduleList))]
[JsonSerializable(typeof(CronPreview))]
[JsonSerializable(typeof(SubscriptionList))]
[JsonSerializable(typeof(ProcessList))]
[JsonSerializable(typeof(ReplyList))]
[JsonSerializable(typeof(ChannelGroupsAnswer))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class DashboardJson : JsonSerializerContext;
