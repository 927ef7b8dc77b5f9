namespace Celeriac.Operations;

/// <summary>
/// The live processes of the app and remote control of their workers (Celery's <c>inspect</c> and <c>control</c>).
/// Presence comes from heartbeats in the store (<see cref="PresenceOptions.Interval"/>); commands travel through the
/// channel layer, so they reach every process sharing the store (Redis pub/sub, the SQLite file's change monitor).
/// </summary>
public interface IWorkerControl
{
    /// <summary>The processes whose heartbeat has not expired, by host and start time.</summary>
    ValueTask<IReadOnlyList<ProcessInfo>> GetProcessesAsync(CancellationToken cancellationToken = default);

    /// <summary>Pings one process (<paramref name="processId"/>) or all; returns the answers received within <paramref name="timeout"/> (default 2 s).</summary>
    ValueTask<IReadOnlyList<ControlReply>> PingAsync(string? processId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default);

    /// <summary>Asks a process to stop gracefully (its running tasks get the shutdown timeout). Returns its answer, or <see langword="null"/> when none came in time.</summary>
    ValueTask<ControlReply?> StopAsync(string processId, TimeSpan? timeout = null, CancellationToken cancellationToken = default);

    /// <summary>Changes how many tasks a process's worker runs at once, from now on. Returns its answer, or <see langword="null"/> when none came in time.</summary>
    ValueTask<ControlReply?> SetConcurrencyAsync(string processId, int concurrency, TimeSpan? timeout = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes a task: a worker running it cancels its <see cref="CancellationToken"/> (the hard time limit still
    /// applies), and its result is <c>REVOKED</c>; a message still waiting in its queue is removed. Returns the
    /// answers of the processes that held it (empty when none ran it).
    /// </summary>
    ValueTask<IReadOnlyList<ControlReply>> RevokeAsync(string taskId, TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}

/// <summary>Settings of heartbeats and the task journal (configuration section <c>Celeriac:Presence</c>).</summary>
public sealed class PresenceOptions
{
    /// <summary>How often each process writes its heartbeat. It expires after three missed beats. Default 2 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a task's story and its place in the recent-tasks index are kept after its last event. Default 1 hour.</summary>
    public TimeSpan JournalWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most tasks kept in the recent-tasks index. Default 10,000.</summary>
    public int JournalSize { get; set; } = 10_000;
}
