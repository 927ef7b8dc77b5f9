using System.CommandLine;
using System.Globalization;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>inspect</c> command: queues, tasks, schedules and dead letters, or one task's state.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildInspectCommand()
    {
        var task = new Option<string?>("--task") { Description = "Show one task's state, result, error, retries and update time instead (exit code 4 when unknown).", HelpName = "ID" };
        var deadLetters = IntOption("--dead-letters", "How many of the newest dead letters to list (default 10; 0 for none).", min: 0);
        var command = new Command("inspect", "Show queue depths (ready, delayed, leased, dead letters), the registered tasks, the schedules (last and next run) and the newest dead letters.")
        {
            task, deadLetters,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => parsed.GetValue(task) is { } id
            ? InspectTaskAsync(id, ct)
            : InspectAsync(parsed.GetValue(deadLetters) ?? 10, ct)));
        command.Subcommands.Add(BuildInspectWorkersCommand());
        return command;
    }

    private async Task<int> InspectAsync(int deadLetterCount, CancellationToken cancellationToken)
    {
        var transport = Services.GetRequiredService<ITaskTransport>();
        WarnIfInMemory();
        var registry = Services.GetRequiredService<TaskRegistry>();
        var defaultQueue = Services.GetRequiredService<IOptions<CeleriacOptions>>().Value.DefaultQueue;
        var stats = await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false);

        var now = (Services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow();
        var queues = new Table().Title("Queues").AddColumns("Queue", "Ready", "Delayed", "Leased", "Dead letters", "Oldest ready");
        foreach (var c in queues.Columns.Skip(1)) c.RightAligned();
        foreach (var q in stats)
            queues.AddRow(Cells(q.Queue, Count(q.Ready), Count(q.Delayed), Count(q.Leased), Count(q.DeadLetters), Age(q.OldestReadyAt, now)));
        if (stats.Count == 0) queues.AddRow(Cells("(no queues yet)", "", "", "", "", ""));
        _out.Write(queues);

        var tasks = new Table().Title("Registered tasks").AddColumns("Task", "Queue", "Retries on", "Max retries");
        foreach (var name in registry.Names)
        {
            var definition = registry.Find(name);
            if (definition is null) continue;
            var retryOn = definition.Retry.On.Count == 0 ? "-" : string.Join(", ", definition.Retry.On.Select(t => t.Name));
            tasks.AddRow(Cells(name, definition.Queue ?? defaultQueue, retryOn, definition.Retry.On.Count == 0 ? "-" : Count(definition.Retry.MaxRetries)));
        }
        if (registry.Names.Count == 0) tasks.AddRow(Cells("(none registered in this app)", "", "", ""));
        _out.Write(tasks);
        await WriteSchedulesAsync(cancellationToken).ConfigureAwait(false);
        await WriteSubscriptionsAsync(stats, now, cancellationToken).ConfigureAwait(false);

        if (deadLetterCount > 0)
        {
            var letters = await transport.GetDeadLettersAsync(deadLetterCount, cancellationToken).ConfigureAwait(false);
            var table = new Table().Title($"Newest dead letters (up to {deadLetterCount})").AddColumns("Id", "Queue", "Reason", "Error", "Failed at");
            foreach (var d in letters)
            {
                var error = d.Info.ErrorType is { } type ? $"{type}: {d.Info.ErrorMessage}" : d.Info.ErrorMessage;
                table.AddRow(Cells(d.Id, d.Queue, d.Info.Reason, error, Time(d.FailedAt)));
            }
            if (letters.Count == 0) table.AddRow(Cells("(none)", "", "", "", ""));
            _out.Write(table);
        }
        return CeleriacExitCodes.Success;
    }

    /// <summary>
    /// The durable subscriptions table, when the transport keeps events: each subscription's pattern, the depth of its
    /// queue (ready, delayed and leased events) and its dead letters.
    /// </summary>
    private async Task WriteSubscriptionsAsync(IReadOnlyList<QueueStats> stats, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (Services.GetService<IEventStore>() is not { } store) return;
        var subscriptions = await store.GetSubscriptionsAsync(cancellationToken).ConfigureAwait(false);
        var table = new Table().Title("Durable subscriptions").AddColumns("Subscription", "Pattern", "Queued", "Oldest ready", "Dead letters");
        foreach (var c in table.Columns.Skip(2)) c.RightAligned();
        foreach (var s in subscriptions)
        {
            var q = stats.FirstOrDefault(q => q.Queue == s.Queue);
            table.AddRow(Cells(s.Name, s.Pattern, Count(q is null ? 0 : q.Ready + q.Delayed + q.Leased), Age(q?.OldestReadyAt, now), Count(q?.DeadLetters ?? 0)));
        }
        if (subscriptions.Count == 0) table.AddRow(Cells("(no durable subscriptions)", "", "", "", ""));
        _out.Write(table);
    }

    private async Task<int> InspectTaskAsync(string id, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new UsageException("--task needs a task id.");
        WarnIfInMemory();
        var result = await Services.GetRequiredService<IResultStore>().GetAsync(id, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            Error($"No record of task {id}: the id is unknown, no worker has received the task yet, or its result expired.");
            return CeleriacExitCodes.NotFound;
        }

        var table = new Table().Title($"Task {id}").HideHeaders().AddColumns("Field", "Value");
        table.AddRow(Cells("Id", result.Id));
        table.AddRow(Cells("Task", result.Task));
        table.AddRow(new Text("State"), new Markup(StateMarkup(result.State)));
        table.AddRow(Cells("Retries", Count(result.Retries)));
        table.AddRow(Cells("Updated", Time(result.UpdatedAt)));
        if (result.Result is not null) table.AddRow(Cells("Result", result.Result));
        if (result.Error is { } e) table.AddRow(Cells("Error", $"{e.Type}: {e.Message}"));
        _out.Write(table);
        return CeleriacExitCodes.Success;
    }

    private static string StateMarkup(string state) => state switch
    {
        TaskStates.Success => $"[green]{state}[/]",
        TaskStates.Failure or TaskStates.Expired or TaskStates.Revoked => $"[red]{state}[/]",
        TaskStates.Retry => $"[yellow]{state}[/]",
        _ => Markup.Escape(state),
    };

    private static Text[] Cells(params string[] values) => [.. values.Select(v => new Text(v))];

    private static string Count(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>How long ago <paramref name="since"/> was, shortly ("850 ms", "12.4 s", "3.0 min", "2.5 h"); "-" for none.</summary>
    private static string Age(DateTimeOffset? since, DateTimeOffset now)
    {
        if (since is not { } at) return "-";
        var age = now - at;
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        return age.TotalSeconds < 1 ? $"{age.TotalMilliseconds:N0} ms"
            : age.TotalMinutes < 1 ? $"{age.TotalSeconds:N1} s"
            : age.TotalHours < 1 ? $"{age.TotalMinutes:N1} min"
            : age.TotalDays < 1 ? $"{age.TotalHours:N1} h"
            : $"{age.TotalDays:N1} d";
    }

    private static string Time(DateTimeOffset value) => value.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
