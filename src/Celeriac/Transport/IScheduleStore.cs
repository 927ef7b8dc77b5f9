namespace Celeriac.Transport;

/// <summary>
/// Where beat keeps its schedules: one row per schedule with its definition (opaque JSON written by the core), whether
/// it is paused, when it last changed, and the last tick fired. Every process that shares the store sees the same
/// rows, so schedules added at run time reach the scheduler in another process and a new leader continues where the
/// last one stopped.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="TryRecordTickAsync"/> is the heart of the exactly-once promise: it must be an atomic compare-and-set
/// (<c>set last_tick = T where last_tick is null or last_tick &lt; T</c>), so that of two schedulers that both think they
/// lead, only one records (and then sends) a given tick.
/// </para>
/// <para>
/// <see cref="StoredSchedule.UpdatedAt"/> is set to the store's current time when a row is created, when its definition
/// text changes, and when it is paused or resumed; never by a save that leaves the text as it was (code schedules are
/// saved again by every scheduler that starts, and that must not look like a change). The scheduler never fires a tick
/// at or before it.
/// </para>
/// </remarks>
public interface IScheduleStore
{
    /// <summary>Every schedule, in name order.</summary>
    ValueTask<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes the definition of <paramref name="name"/>, keeping its paused flag and last tick. Returns, for
    /// <see cref="ScheduleSaveMode.Upsert"/>, whether the row was created or its text changed; for
    /// <see cref="ScheduleSaveMode.AddOnly"/>, whether it was created (<see langword="false"/>: the name is taken); for
    /// <see cref="ScheduleSaveMode.ReplaceOnly"/>, whether the row exists (and now holds <paramref name="definition"/>).
    /// </summary>
    ValueTask<bool> SaveAsync(string name, string definition, ScheduleSaveMode mode, CancellationToken cancellationToken = default);

    /// <summary>Pauses or resumes a schedule (a change of the flag also sets <see cref="StoredSchedule.UpdatedAt"/>). Returns whether it exists.</summary>
    ValueTask<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken = default);

    /// <summary>Deletes a schedule and its state. Returns whether it existed.</summary>
    ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records <paramref name="tick"/> as the last tick fired, with the current time as <see cref="StoredSchedule.LastFiredAt"/>,
    /// when the schedule exists and its last tick is unset or earlier; atomically. Returns whether it did. A scheduler
    /// sends a tick's task only after this returned <see langword="true"/>.
    /// </summary>
    ValueTask<bool> TryRecordTickAsync(string name, DateTimeOffset tick, CancellationToken cancellationToken = default);
}

/// <summary>How <see cref="IScheduleStore.SaveAsync"/> treats an existing or missing row.</summary>
public enum ScheduleSaveMode
{
    /// <summary>Create the row, or replace its definition.</summary>
    Upsert,

    /// <summary>Create the row only when the name is free.</summary>
    AddOnly,

    /// <summary>Replace the definition only when the row exists.</summary>
    ReplaceOnly,
}

/// <summary>One schedule as the store holds it.</summary>
/// <param name="Name">Unique schedule name.</param>
/// <param name="Definition">The definition as JSON, written and read by the core; the store does not read it.</param>
/// <param name="Paused">Whether the scheduler skips it.</param>
/// <param name="UpdatedAt">When it was created, its definition last changed, or it was last paused or resumed.</param>
/// <param name="LastTick">The scheduled time of the last tick fired, or <see langword="null"/> when none was.</param>
/// <param name="LastFiredAt">When that tick was recorded (just before its task was sent).</param>
public sealed record StoredSchedule(string Name, string Definition, bool Paused, DateTimeOffset UpdatedAt, DateTimeOffset? LastTick, DateTimeOffset? LastFiredAt);
