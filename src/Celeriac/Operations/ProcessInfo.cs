namespace Celeriac.Operations;

/// <summary>The heartbeat of one live Celeriac process (a worker, a scheduler, a web process, or all of them).</summary>
/// <param name="Id">Unique per process run: <c>{host}:{pid}:{random}</c>.</param>
/// <param name="Host">Machine name.</param>
/// <param name="Pid">Operating-system process id.</param>
/// <param name="Version">The app's version (its entry assembly's informational version).</param>
/// <param name="Roles">What it runs: <c>worker</c>, <c>beat</c>, <c>web</c>.</param>
/// <param name="Queues">Queues its worker consumes (empty when it runs none).</param>
/// <param name="Concurrency">Tasks its worker runs at once (0 when it runs none).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="BeatAt">When this heartbeat was written.</param>
/// <param name="InFlight">Tasks running in it now.</param>
/// <param name="Processed">Tasks its worker settled since it started (succeeded, failed for good, expired or revoked).</param>
/// <param name="Failed">Of those, how many failed for good.</param>
/// <param name="Retried">Runs that failed and were scheduled for another try.</param>
/// <param name="Groups">WebSocket groups it holds members of, with how many (web processes).</param>
/// <param name="Status">What it is doing: <c>running</c>, <c>stopping</c>, or a problem (<c>fetch stuck</c>).</param>
/// <param name="BeatLeader">Whether its scheduler holds the beat leader key (fires the schedules) now.</param>
public sealed record ProcessInfo(
    string Id,
    string Host,
    int Pid,
    string Version,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Queues,
    int Concurrency,
    DateTimeOffset StartedAt,
    DateTimeOffset BeatAt,
    IReadOnlyList<RunningTask> InFlight,
    long Processed,
    long Failed,
    long Retried,
    IReadOnlyDictionary<string, int> Groups,
    string Status,
    bool BeatLeader = false);

/// <summary>A task running in a process.</summary>
public sealed record RunningTask(string Id, string Task, DateTimeOffset StartedAt);

/// <summary>A process's answer to a control command.</summary>
/// <param name="ProcessId">Who answered.</param>
/// <param name="Ok">Whether it did what was asked.</param>
/// <param name="Message">What it did or why not.</param>
/// <param name="Elapsed">From sending the command to receiving this answer.</param>
public sealed record ControlReply(string ProcessId, bool Ok, string Message, TimeSpan Elapsed);
