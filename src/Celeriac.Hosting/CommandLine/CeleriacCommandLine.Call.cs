using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac.Messaging;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>call</c> command: send a task, optionally wait for its result.</summary>
internal sealed partial class CeleriacCommandLine
{
    /// <summary>How often the live state is re-read while waiting (a terminal state wakes the wait at once).</summary>
    private static readonly TimeSpan StatePoll = TimeSpan.FromMilliseconds(250);

    private Command BuildCallCommand()
    {
        var task = new Argument<string>("TASK") { Description = "The task name, e.g. math.add." };
        var args = new Option<string?>("--args") { Description = "Positional arguments as a JSON array, e.g. '[2, 3]'.", HelpName = "JSON" };
        var kwargs = new Option<string?>("--kwargs") { Description = "Keyword arguments as a JSON object, e.g. '{\"a\": 2, \"b\": 3}'.", HelpName = "JSON" };
        var queue = new Option<string?>("--queue") { Description = "Queue to send to (default: the task's queue, else Celeriac:DefaultQueue).", HelpName = "Q" };
        var countdown = SecondsOption("--countdown", "Run no earlier than this many seconds from now.", allowZero: true);
        var priority = IntOption("--priority", "Higher runs first within a queue (default 0).");
        var wait = new Option<bool>("--wait") { Description = "Wait for the task to finish, showing its state, then print its result as JSON." };
        var timeout = SecondsOption("--timeout", "With --wait: give up after this many seconds (exit code 3). Default: wait until it finishes.", allowZero: false);

        var command = new Command("call", "Send a task and print its id; with --wait, wait for it and print its result as JSON.")
        {
            task, args, kwargs, queue, countdown, priority, wait, timeout,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => CallAsync(
            new CallRequest(parsed.GetValue(task)!, parsed.GetValue(args), parsed.GetValue(kwargs), parsed.GetValue(queue),
                parsed.GetValue(countdown), parsed.GetValue(priority) ?? 0, parsed.GetValue(wait), parsed.GetValue(timeout)),
            ct)));
        return command;
    }

    private sealed record CallRequest(string Task, string? Args, string? Kwargs, string? Queue, double? Countdown, int Priority, bool Wait, double? Timeout);

    private async Task<int> CallAsync(CallRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Task)) throw new UsageException("TASK must not be empty.");
        var positional = request.Args is null ? (JsonElement?)null : PositionalArguments(request.Args);
        var keywords = request.Kwargs is null ? (JsonElement?)null : KeywordArguments(request.Kwargs);

        var client = Services.GetRequiredService<ITaskClient>();
        WarnIfInMemory();
        if (Services.GetRequiredService<TaskRegistry>().Find(request.Task) is null)
            Error($"Warning: no task named '{request.Task}' is registered in this app; sending anyway (a worker elsewhere may know it).");

        var signature = new TaskSignature(request.Task, args: positional, kwargs: keywords, id: TaskIds.New(), queue: request.Queue, priority: request.Priority);
        if (request.Countdown is { } seconds) signature.Options.Countdown = TimeSpan.FromSeconds(seconds);
        var handle = await client.SendAsync(signature, cancellationToken).ConfigureAwait(false);
        WriteData(handle.Id);
        if (!request.Wait) return CeleriacExitCodes.Success;

        var time = Services.GetService<TimeProvider>() ?? TimeProvider.System;
        DateTimeOffset? deadline = request.Timeout is { } t ? time.GetUtcNow() + TimeSpan.FromSeconds(t) : null;
        var result = await _err.Status().StartAsync($"{Markup.Escape(request.Task)} [grey]{handle.Id}[/]: {TaskStates.Pending}", async status =>
        {
            TaskResult? last = null;
            while (true)
            {
                var poll = StatePoll;
                if (deadline is { } d)
                {
                    var left = d - time.GetUtcNow();
                    if (left <= TimeSpan.Zero) return last;
                    if (left < poll) poll = left;
                }
                last = await handle.WaitAsync(poll, cancellationToken).ConfigureAwait(false);
                if (last is not null && TaskStates.IsTerminal(last.State)) return last;
                status.Status = $"{Markup.Escape(request.Task)} [grey]{handle.Id}[/]: {Markup.Escape(Describe(last))}";
            }
        }).ConfigureAwait(false);

        if (result is null || !TaskStates.IsTerminal(result.State))
        {
            Error($"Timed out after {request.Timeout?.ToString(CultureInfo.InvariantCulture)} s waiting for task {handle.Id} (state {Describe(result)}); it may still run.");
            return CeleriacExitCodes.TimedOut;
        }
        if (result.State == TaskStates.Success)
        {
            WriteData(result.Result ?? "null");
            return CeleriacExitCodes.Success;
        }
        Error($"Task {handle.Id} ({result.Task}) ended in {result.State}: {result.Error?.Type ?? "Error"}: {result.Error?.Message ?? "(no message)"}");
        return CeleriacExitCodes.TaskFailed;
    }

    /// <summary>A JSON array as is; an object is refused (it belongs in --kwargs); any other value is one argument.</summary>
    private static JsonElement PositionalArguments(string text)
    {
        var value = ParseJson("--args", text, "[2, 3]");
        return value.ValueKind switch
        {
            JsonValueKind.Array => value,
            JsonValueKind.Object => throw new UsageException("--args takes a JSON array of positional arguments, e.g. --args '[2, 3]'; pass keyword arguments as --kwargs '{\"a\": 2}'."),
            _ => JsonSerializer.SerializeToElement(new[] { value }, TaskJson.Options),
        };
    }

    private static JsonElement KeywordArguments(string text)
    {
        var value = ParseJson("--kwargs", text, "{\"a\": 2, \"b\": 3}");
        return value.ValueKind == JsonValueKind.Object
            ? value
            : throw new UsageException("--kwargs takes a JSON object of keyword arguments, e.g. --kwargs '{\"a\": 2, \"b\": 3}'.");
    }

    private static string Describe(TaskResult? result) => result switch
    {
        null => TaskStates.Pending,
        { State: TaskStates.Retry, Error: { } e } => $"{result.State} (retry {result.Retries}, last error {e.Type}: {e.Message})",
        { Retries: > 0 } => $"{result.State} (retry {result.Retries})",
        _ => result.State,
    };

}
