using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac.Operations;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>
/// The <c>workers</c> command (the live processes, from their heartbeats) and <c>inspect workers</c> (remote control:
/// ping, stop, concurrency, revoke), both through <see cref="IWorkerControl"/>.
/// </summary>
internal sealed partial class CeleriacCommandLine
{
    private static readonly TimeSpan DefaultControlTimeout = TimeSpan.FromSeconds(2);

    private Command BuildWorkersCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print the heartbeats as one JSON array instead of a table." };
        var command = new Command("workers", "List the live processes of this app (worker, beat, web) from their heartbeats: id, host, pid, roles, queues, concurrency, tasks in flight, processed / failed / retried, last beat and status.")
        {
            json,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => ListWorkersAsync(parsed.GetValue(json), ct)));
        return command;
    }

    /// <summary><c>inspect workers</c>: the list again, and the remote-control subcommands.</summary>
    private Command BuildInspectWorkersCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print the heartbeats as one JSON array instead of a table." };
        var command = new Command("workers", "The live processes (as `workers`), or remote control of them: ping, stop, concurrency, revoke. Exit code 4 when no process answers.")
        {
            json,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => ListWorkersAsync(parsed.GetValue(json), ct)));

        var pingId = new Option<string?>("--id") { Description = "Ping only this process (an id from `workers`). Default: all.", HelpName = "ID" };
        var pingTimeout = DurationOption("--timeout", "How long to wait for answers (default 2s).");
        var ping = new Command("ping", "Ask every live process (or one) to answer; prints who answered and how fast.") { pingId, pingTimeout };
        ping.SetAction((parsed, _) => GuardAsync(ct => PingWorkersAsync(parsed.GetValue(pingId), parsed.GetValue(pingTimeout), ct)));

        var stopId = ProcessIdArgument();
        var stopTimeout = DurationOption("--timeout", "How long to wait for its answer (default 2s).");
        var stop = new Command("stop", "Ask a process to stop gracefully, as SIGTERM would: it stops fetching and its running tasks get the shutdown timeout.") { stopId, stopTimeout };
        stop.SetAction((parsed, _) => GuardAsync(ct => StopWorkerAsync(parsed.GetValue(stopId)!, parsed.GetValue(stopTimeout), ct)));

        var concurrencyId = ProcessIdArgument();
        var n = new Argument<int>("N")
        {
            Description = "Tasks to run at once from now on (1 or more).",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < 1)
                    r.AddError($"N must be a whole number of at least 1, not '{text}'.");
                return value;
            },
        };
        var concurrencyTimeout = DurationOption("--timeout", "How long to wait for its answer (default 2s).");
        var concurrency = new Command("concurrency", "Change how many tasks a worker runs at once, without a restart; its next heartbeat shows the new value.") { concurrencyId, n, concurrencyTimeout };
        concurrency.SetAction((parsed, _) => GuardAsync(ct => SetWorkerConcurrencyAsync(parsed.GetValue(concurrencyId)!, parsed.GetValue(n), parsed.GetValue(concurrencyTimeout), ct)));

        var taskId = new Argument<string>("TASK_ID") { Description = "The id printed by `call` or returned by SendAsync." };
        var revokeTimeout = DurationOption("--timeout", "How long to wait for the worker that runs it (default 2s).");
        var revoke = new Command("revoke", "Revoke a task: removed from its queue if it waits there, else the worker running it cancels its token (the hard time limit still applies). It ends REVOKED.") { taskId, revokeTimeout };
        revoke.SetAction((parsed, _) => GuardAsync(ct => RevokeAsync(parsed.GetValue(taskId)!, parsed.GetValue(revokeTimeout), ct)));

        command.Subcommands.Add(ping);
        command.Subcommands.Add(stop);
        command.Subcommands.Add(concurrency);
        command.Subcommands.Add(revoke);
        return command;
    }

    private static Argument<string> ProcessIdArgument() => new("ID") { Description = "A process id, as `workers` lists it (host:pid:suffix)." };

    private async Task<int> ListWorkersAsync(bool json, CancellationToken cancellationToken)
    {
        WarnIfInMemory();
        var processes = await Services.GetRequiredService<IWorkerControl>().GetProcessesAsync(cancellationToken).ConfigureAwait(false);
        if (json)
        {
            WriteData(JsonSerializer.Serialize(processes.ToArray(), OperationsJsonContext.Default.ProcessInfoArray));
            return CeleriacExitCodes.Success;
        }
        var now = (Services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow();
        var table = new Table().Title("Live processes").AddColumns("Id", "Host", "Pid", "Roles", "Queues", "Concurrency", "In flight", "Processed", "Failed", "Retried", "Last beat", "Status");
        foreach (var p in processes)
        {
            table.AddRow(Cells(p.Id, p.Host, Count(p.Pid), p.Roles.Count == 0 ? "-" : string.Join(",", p.Roles), p.Queues.Count == 0 ? "-" : string.Join(",", p.Queues),
                Count(p.Concurrency), Count(p.InFlight.Count), Count(p.Processed), Count(p.Failed), Count(p.Retried), Age(p.BeatAt, now) + " ago", p.Status));
            foreach (var t in p.InFlight)
                table.AddRow(Cells($"  └ {t.Task}", t.Id, "", "", "", "", Age(t.StartedAt, now), "", "", "", "", ""));
        }
        if (processes.Count == 0) table.AddRow(Cells("(no live processes)", "", "", "", "", "", "", "", "", "", "", ""));
        _out.Write(table);
        return CeleriacExitCodes.Success;
    }

    private async Task<int> PingWorkersAsync(string? id, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        if (id is not null && string.IsNullOrWhiteSpace(id)) throw new UsageException("--id must not be empty.");
        WarnIfInMemory();
        var replies = await Services.GetRequiredService<IWorkerControl>().PingAsync(id, timeout ?? DefaultControlTimeout, cancellationToken).ConfigureAwait(false);
        if (replies.Count == 0)
        {
            Error(id is null ? $"No process answered within {timeout ?? DefaultControlTimeout}." : $"Process {id} did not answer within {timeout ?? DefaultControlTimeout}: it is not running, or the id is wrong (see `workers`).");
            return CeleriacExitCodes.NotFound;
        }
        var table = new Table().Title("Ping").AddColumns("Process", "Answer", "Time");
        foreach (var r in replies) table.AddRow(Cells(r.ProcessId, r.Message, $"{r.Elapsed.TotalMilliseconds:N0} ms"));
        _out.Write(table);
        return CeleriacExitCodes.Success;
    }

    private async Task<int> StopWorkerAsync(string id, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new UsageException("ID must not be empty.");
        WarnIfInMemory();
        var reply = await Services.GetRequiredService<IWorkerControl>().StopAsync(id, timeout ?? DefaultControlTimeout, cancellationToken).ConfigureAwait(false);
        return Answered(id, reply, timeout);
    }

    private async Task<int> SetWorkerConcurrencyAsync(string id, int concurrency, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new UsageException("ID must not be empty.");
        WarnIfInMemory();
        var reply = await Services.GetRequiredService<IWorkerControl>().SetConcurrencyAsync(id, concurrency, timeout ?? DefaultControlTimeout, cancellationToken).ConfigureAwait(false);
        return Answered(id, reply, timeout);
    }

    private int Answered(string id, ControlReply? reply, TimeSpan? timeout)
    {
        if (reply is null)
        {
            Error($"Process {id} did not answer within {timeout ?? DefaultControlTimeout}: it is not running, or the id is wrong (see `workers`).");
            return CeleriacExitCodes.NotFound;
        }
        if (!reply.Ok)
        {
            Error($"{reply.ProcessId}: {reply.Message}");
            return CeleriacExitCodes.NotFound;
        }
        WriteData($"{reply.ProcessId}: {reply.Message}");
        return CeleriacExitCodes.Success;
    }

    /// <summary>A duration: <c>2s</c>, <c>500ms</c>, <c>1.5m</c>, or a plain number of seconds.</summary>
    private static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "DURATION",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            if (ParseDuration(text) is { } value && value > TimeSpan.Zero) return value;
            r.AddError($"{name} must be a positive duration such as 2s, 500ms or 1m, not '{text}'.");
            return null;
        },
    };

    internal static TimeSpan? ParseDuration(string text)
    {
        text = text.Trim();
        var (number, unit) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 0.001)
            : text.EndsWith('s') || text.EndsWith('S') ? (text[..^1], 1.0)
            : text.EndsWith('m') || text.EndsWith('M') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value)) return null;
        var seconds = value * unit;
        if (seconds <= 0 || seconds > TimeSpan.FromDays(1).TotalSeconds) return null;
        return TimeSpan.FromSeconds(seconds);
    }
}
