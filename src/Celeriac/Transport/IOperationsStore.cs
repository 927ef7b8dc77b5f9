namespace Celeriac.Transport;

/// <summary>
/// What operating Celeriac needs from a store: the heartbeats of live processes (presence) and a bounded journal of
/// recent tasks (each task's story and the index of recently active tasks). Records are opaque JSON written by the
/// core; a store only keeps them, expires them and hands them back.
/// </summary>
public interface IOperationsStore
{
    /// <summary>Writes (replaces) the heartbeat of process <paramref name="processId"/>; it is gone after <paramref name="timeToLive"/> unless written again.</summary>
    ValueTask PutProcessAsync(string processId, string record, TimeSpan timeToLive, CancellationToken cancellationToken = default);

    /// <summary>Deletes a process's heartbeat (a process that stops says goodbye).</summary>
    ValueTask RemoveProcessAsync(string processId, CancellationToken cancellationToken = default);

    /// <summary>The heartbeats that have not expired, in no particular order.</summary>
    ValueTask<IReadOnlyList<string>> GetProcessesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends events to their tasks' stories and makes each event its task's latest in the recent index. Stories and
    /// index entries are kept for <paramref name="keepFor"/> after the task's last event; the index keeps at most
    /// <paramref name="maxRecent"/> tasks (the least recently active go first).
    /// </summary>
    ValueTask AppendTaskEventsAsync(IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent, CancellationToken cancellationToken = default);

    /// <summary>The story of one task, oldest event first; empty when unknown or expired.</summary>
    ValueTask<IReadOnlyList<string>> GetTaskEventsAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>The latest event of each of the <paramref name="limit"/> most recently active tasks, newest first.</summary>
    ValueTask<IReadOnlyList<string>> GetRecentTasksAsync(int limit, CancellationToken cancellationToken = default);
}

/// <summary>One event of a task's story, as stored.</summary>
/// <param name="TaskId">The task it belongs to.</param>
/// <param name="At">When it happened.</param>
/// <param name="Record">The event as JSON.</param>
public sealed record TaskEventRecord(string TaskId, DateTimeOffset At, string Record);
