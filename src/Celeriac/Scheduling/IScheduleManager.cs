namespace Celeriac;

/// <summary>
/// Lists and changes schedules at run time (like django-celery-beat): changes are kept in the schedule store and
/// picked up by the running scheduler without a restart (at once in this process, within
/// <see cref="BeatOptions.ReloadInterval"/> in another). Registered by <c>AddCeleriac</c>; needs a transport with a
/// schedule store (<c>UseSqlite</c>, <c>UseInMemory</c>).
/// </summary>
public interface IScheduleManager
{
    /// <summary>Every schedule in the store, plus this app's code schedules not yet written to it, in name order.</summary>
    ValueTask<IReadOnlyList<ScheduleInfo>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>One schedule, or <see langword="null"/> when there is none by that name.</summary>
    ValueTask<ScheduleInfo?> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Adds a schedule; its first tick is the first one after now.</summary>
    /// <exception cref="InvalidOperationException">A schedule with that name exists.</exception>
    ValueTask AddAsync(ScheduleDefinition schedule, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces a schedule's definition (same name); ticks due before now are not fired. Returns <see langword="false"/>
    /// when there is no schedule by that name.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is a code schedule (change the code instead).</exception>
    ValueTask<bool> UpdateAsync(ScheduleDefinition schedule, CancellationToken cancellationToken = default);

    /// <summary>Stops a schedule from firing until it is resumed. Returns <see langword="false"/> when there is none by that name.</summary>
    ValueTask<bool> PauseAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Lets a paused schedule fire again, from the next tick after now (ticks during the pause are not fired). Returns <see langword="false"/> when there is none by that name.</summary>
    ValueTask<bool> ResumeAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Deletes a schedule. Returns <see langword="false"/> when there is none by that name.</summary>
    /// <exception cref="InvalidOperationException">It is a code schedule (remove it from the code; pausing works at run time).</exception>
    ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default);
}
