using System.CommandLine;
using System.Text.Json;
using Celeriac.Scheduling;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>schedule</c> commands: list, add, pause, resume and remove beat schedules in the store.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildScheduleCommand()
    {
        var list = new Command("list", "List the schedules: when each ticks, its task and arguments, whether it is paused, its last and next run.");
        list.SetAction((_, _) => GuardAsync(ScheduleListAsync));

        var name = new Argument<string>("NAME") { Description = "Schedule name (letters, digits, . _ - :)." };
        var task = new Argument<string>("TASK") { Description = "The task sent on each tick." };
        var every = SecondsOption("--every", "Tick every this many seconds (fractions allowed: 0.5), on multiples of it since the Unix epoch.", allowZero: false);
        var cron = new Option<string?>("--cron") { Description = "Tick at the times of this cron expression (5 fields, or 6 with seconds first), e.g. '0 18 * * FRI'.", HelpName = "EXPR" };
        var zone = new Option<string?>("--tz") { Description = "Time zone of --cron, an IANA id such as Europe/Madrid (default UTC).", HelpName = "ZONE" };
        var args = new Option<string?>("--args") { Description = "Arguments as JSON: an object for keyword arguments ('{\"deviceId\": 7}'), an array for positional ones ('[2, 3]').", HelpName = "JSON" };
        var queue = new Option<string?>("--queue") { Description = "Queue to send to (default: the task's queue, else Celeriac:DefaultQueue).", HelpName = "Q" };
        var expires = SecondsOption("--expires", "A tick's message expires this many seconds after it is sent (default: when the next tick is due).", allowZero: false);
        var missed = new Option<string?>("--missed") { Description = "Ticks missed while no scheduler ran: skip (default) or run-once.", HelpName = "POLICY" };
        missed.AcceptOnlyFromAmong("skip", "run-once");
        var add = new Command("add", "Add a schedule; a running scheduler picks it up without a restart (within Celeriac:Beat:ReloadInterval).")
        {
            name, task, every, cron, zone, args, queue, expires, missed,
        };
        add.SetAction((parsed, _) => GuardAsync(ct => ScheduleAddAsync(
            new ScheduleRequest(parsed.GetValue(name)!, parsed.GetValue(task)!, parsed.GetValue(every), parsed.GetValue(cron), parsed.GetValue(zone),
                parsed.GetValue(args), parsed.GetValue(queue), parsed.GetValue(expires), parsed.GetValue(missed)), ct)));

        var schedule = new Command("schedule", "List and change beat schedules at run time (kept in the store; running schedulers pick changes up without a restart).")
        {
            list, add,
            NameCommand("pause", "Stop a schedule from firing until it is resumed.", (m, n, ct) => m.PauseAsync(n, ct), "paused"),
            NameCommand("resume", "Let a paused schedule fire again, from its next tick (ticks during the pause are not fired).", (m, n, ct) => m.ResumeAsync(n, ct), "resumed"),
            NameCommand("remove", "Delete a schedule added at run time (a schedule defined in code can only be paused).", (m, n, ct) => m.RemoveAsync(n, ct), "removed"),
        };
        return schedule;
    }

    private Command NameCommand(string verb, string description, Func<IScheduleManager, string, CancellationToken, ValueTask<bool>> change, string done)
    {
        var name = new Argument<string>("NAME") { Description = "Schedule name." };
        var command = new Command(verb, description) { name };
        command.SetAction((parsed, _) => GuardAsync(async ct =>
        {
            var schedule = parsed.GetValue(name)!;
            var manager = ScheduleManagerOrThrow();
            bool found;
            try
            {
                found = await change(manager, schedule, ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                throw new UsageException(e.Message);
            }
            if (!found)
            {
                Error($"No schedule named '{schedule}'.");
                return CeleriacExitCodes.NotFound;
            }
            _out.WriteLine($"Schedule '{schedule}' {done}.");
            return CeleriacExitCodes.Success;
        }));
        return command;
    }

    private sealed record ScheduleRequest(string Name, string Task, double? Every, string? Cron, string? Zone, string? Args, string? Queue, double? Expires, string? Missed);

    private async Task<int> ScheduleAddAsync(ScheduleRequest request, CancellationToken cancellationToken)
    {
        if ((request.Every is null) == (request.Cron is null)) throw new UsageException("Give exactly one of --every SECONDS and --cron EXPR.");
        if (request.Zone is not null && request.Cron is null) throw new UsageException("--tz only applies to --cron.");
        object? args = request.Args is null ? null : ParseJson("--args", request.Args, "{\"deviceId\": 7}");
        void Configure(ScheduleOptions o)
        {
            o.Queue = request.Queue;
            o.Expires = request.Expires is { } e ? TimeSpan.FromMilliseconds(Math.Round(e * 1000)) : null;
            o.MissedTicks = request.Missed == "run-once" ? MissedTickPolicy.RunOnce : MissedTickPolicy.Skip;
        }
        ScheduleDefinition definition;
        try
        {
            definition = request.Every is { } seconds
                ? ScheduleDefinition.ForInterval(request.Name, request.Task, TimeSpan.FromMilliseconds(Math.Round(seconds * 1000)), args, Configure)
                : ScheduleDefinition.ForCron(request.Name, request.Task, request.Cron!, request.Zone, args, Configure);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var manager = ScheduleManagerOrThrow();
        WarnIfInMemory();
        if (Services.GetRequiredService<TaskRegistry>().Find(request.Task) is null)
            Error($"Warning: no task named '{request.Task}' is registered in this app; adding the schedule anyway (a worker elsewhere may know it).");
        try
        {
            await manager.AddAsync(definition, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException(e.Message);
        }
        var info = await manager.GetAsync(definition.Name, cancellationToken).ConfigureAwait(false);
        _out.WriteLine($"Schedule '{definition.Name}' added: {definition} -> {definition.Task}; next run {(info?.NextTick is { } next ? Time(next.ToUniversalTime()) : "-")}.");
        return CeleriacExitCodes.Success;
    }

    private async Task<int> ScheduleListAsync(CancellationToken cancellationToken)
    {
        var manager = ScheduleManagerOrThrow();
        WarnIfInMemory();
        _out.Write(await SchedulesTableAsync(manager, withArguments: true, cancellationToken).ConfigureAwait(false));
        return CeleriacExitCodes.Success;
    }

    /// <summary>The schedules table for <c>inspect</c>, when the transport keeps schedules.</summary>
    private async Task WriteSchedulesAsync(CancellationToken cancellationToken)
    {
        var manager = Services.GetRequiredService<ScheduleManager>();
        if (!manager.HasStore) return;
        _out.Write(await SchedulesTableAsync(manager, withArguments: false, cancellationToken).ConfigureAwait(false));
    }

    private async Task<Table> SchedulesTableAsync(ScheduleManager manager, bool withArguments, CancellationToken cancellationToken)
    {
        var schedules = await manager.ListAsync(cancellationToken).ConfigureAwait(false);
        var results = Services.GetRequiredService<IResultStore>();
        var table = new Table().Title("Schedules").AddColumns("Schedule", "When", "Task");
        if (withArguments) table.AddColumns("Arguments", "Queue");
        table.AddColumns("State", "Last run", "Next run");
        foreach (var s in schedules)
        {
            var d = s.Definition;
            var state = (s.Paused ? "paused" : "active") + (d.Source == ScheduleSource.Code ? " (code)" : "");
            var last = "-";
            if (s.LastTick is { } tick)
            {
                // The tick's task id is its idempotency key, so its result is one read away.
                var result = await results.GetAsync(BeatScheduler.TickKey(d.Name, tick), cancellationToken).ConfigureAwait(false);
                last = $"{Time(tick.ToUniversalTime())} {result?.State ?? TaskStates.Pending}";
            }
            var next = s.NextTick is { } n ? Time(n.ToUniversalTime()) : "-";
            List<string> cells = [d.Name, d.ToString(), d.Task];
            if (withArguments) cells.AddRange([Arguments(d), d.Queue ?? "(task's)"]);
            cells.AddRange([state, last, next]);
            table.AddRow(Cells([.. cells]));
        }
        if (schedules.Count == 0) table.AddRow(Cells([.. Enumerable.Range(0, table.Columns.Count).Select(i => i == 0 ? "(no schedules)" : "")]));
        return table;
    }

    private static string Arguments(ScheduleDefinition d) => (d.Args, d.Kwargs) switch
    {
        (null, null) => "-",
        ({ } a, null) => JsonSerializer.Serialize(a),
        (null, { } k) => JsonSerializer.Serialize(k),
        ({ } a, { } k) => $"{JsonSerializer.Serialize(a)} {JsonSerializer.Serialize(k)}",
    };

    private ScheduleManager ScheduleManagerOrThrow()
    {
        var manager = Services.GetRequiredService<ScheduleManager>();
        _ = manager.Store;
        return manager;
    }
}
