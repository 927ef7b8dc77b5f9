using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Celeriac.Scheduling;

/// <summary>
/// Reads and changes schedules in the <see cref="IScheduleStore"/>, and writes this app's code schedules to it
/// (<see cref="SyncCodeSchedulesAsync"/>, called by the scheduler when it starts). Every change pulses
/// <see cref="ScheduleChanges"/> so a scheduler in this process reloads at once.
/// </summary>
internal sealed partial class ScheduleManager(
    IServiceProvider services,
    ScheduleRegistry registry,
    ScheduleChanges changes,
    TimeProvider time,
    ILogger<ScheduleManager> logger) : IScheduleManager
{
    /// <summary>The store, or a clear error when the transport keeps no schedules.</summary>
    public IScheduleStore Store => services.GetService<IScheduleStore>()
        ?? throw new InvalidOperationException("No schedule store is registered: beat schedules need a transport that keeps them (c.UseSqlite(...) or c.UseInMemory()).");

    /// <summary>Whether a schedule store is registered.</summary>
    public bool HasStore => services.GetService<IScheduleStore>() is not null;

    public async ValueTask<IReadOnlyList<ScheduleInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var rows = await Store.ListAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var infos = new List<ScheduleInfo>(rows.Count);
        foreach (var row in rows)
        {
            if (TryParse(row) is { } definition) infos.Add(Describe(definition, row, now));
        }
        foreach (var code in registry.All)
        {
            if (!rows.Any(r => r.Name == code.Name)) infos.Add(new ScheduleInfo(code, false, null, null, code.GetNextTick(now), null));
        }
        infos.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return infos;
    }

    public async ValueTask<ScheduleInfo?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return (await ListAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Name == name);
    }

    public async ValueTask AddAsync(ScheduleDefinition schedule, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (registry.Find(schedule.Name) is not null) throw CodeSchedule(schedule.Name, "added");
        var dynamic = schedule.WithSource(ScheduleSource.Dynamic);
        if (!await Store.SaveAsync(dynamic.Name, dynamic.ToJson(), ScheduleSaveMode.AddOnly, cancellationToken).ConfigureAwait(false))
            throw new InvalidOperationException($"A schedule named '{schedule.Name}' exists; update or remove it first.");
        changes.Pulse();
    }

    public async ValueTask<bool> UpdateAsync(ScheduleDefinition schedule, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (registry.Find(schedule.Name) is not null) throw CodeSchedule(schedule.Name, "changed");
        var dynamic = schedule.WithSource(ScheduleSource.Dynamic);
        var updated = await Store.SaveAsync(dynamic.Name, dynamic.ToJson(), ScheduleSaveMode.ReplaceOnly, cancellationToken).ConfigureAwait(false);
        if (updated) changes.Pulse();
        return updated;
    }

    public ValueTask<bool> PauseAsync(string name, CancellationToken cancellationToken = default) => SetPausedAsync(name, true, cancellationToken);

    public ValueTask<bool> ResumeAsync(string name, CancellationToken cancellationToken = default) => SetPausedAsync(name, false, cancellationToken);

    public async ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (registry.Find(name) is not null) throw CodeSchedule(name, "removed");
        var removed = await Store.RemoveAsync(name, cancellationToken).ConfigureAwait(false);
        if (removed) changes.Pulse();
        return removed;
    }

    /// <summary>
    /// Writes every code schedule to the store (a row changes only when its definition did) and deletes the code
    /// schedules this app no longer defines. Returns how many rows were written or deleted.
    /// </summary>
    public async Task<int> SyncCodeSchedulesAsync(CancellationToken cancellationToken)
    {
        var store = Store;
        var touched = 0;
        foreach (var schedule in registry.All)
        {
            if (await store.SaveAsync(schedule.Name, schedule.ToJson(), ScheduleSaveMode.Upsert, cancellationToken).ConfigureAwait(false))
            {
                touched++;
                LogCodeScheduleSaved(schedule.Name, schedule.ToString(), schedule.Task);
            }
        }
        foreach (var row in await store.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (registry.Find(row.Name) is not null || TryParse(row) is not { Source: ScheduleSource.Code }) continue;
            if (await store.RemoveAsync(row.Name, cancellationToken).ConfigureAwait(false))
            {
                touched++;
                LogCodeScheduleRemoved(row.Name);
            }
        }
        if (touched > 0) changes.Pulse();
        return touched;
    }

    /// <summary>The definition of a stored row, or <see langword="null"/> (logged) when it does not parse.</summary>
    public ScheduleDefinition? TryParse(StoredSchedule row)
    {
        try
        {
            return ScheduleDefinition.FromJson(row.Name, row.Definition);
        }
        catch (FormatException e)
        {
            LogBadDefinition(e, row.Name);
            return null;
        }
    }

    /// <summary>The first tick the scheduler may still fire: never one at or before the last tick or the last change.</summary>
    public static DateTimeOffset Floor(StoredSchedule row) =>
        row.LastTick is { } last && last > row.UpdatedAt ? last : row.UpdatedAt;

    private static ScheduleInfo Describe(ScheduleDefinition definition, StoredSchedule row, DateTimeOffset now)
    {
        var floor = Floor(row);
        var next = row.Paused ? null : definition.GetNextTick(floor > now ? floor : now);
        return new ScheduleInfo(definition, row.Paused, row.LastTick, row.LastFiredAt, next, row.UpdatedAt);
    }

    private async ValueTask<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var store = Store;
        var found = await store.SetPausedAsync(name, paused, cancellationToken).ConfigureAwait(false);
        if (!found && registry.Find(name) is { } code)
        {
            // A code schedule no scheduler has written yet: write it, then pause it.
            await store.SaveAsync(name, code.ToJson(), ScheduleSaveMode.Upsert, cancellationToken).ConfigureAwait(false);
            found = await store.SetPausedAsync(name, paused, cancellationToken).ConfigureAwait(false);
        }
        if (found) changes.Pulse();
        return found;
    }

    private static InvalidOperationException CodeSchedule(string name, string what) =>
        new($"The schedule '{name}' is defined in code (MapSchedule) and cannot be {what} at run time; change the code, or pause it.");

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: code schedule {Schedule} ({When}, task {Task}) written to the schedule store")]
    private partial void LogCodeScheduleSaved(string schedule, string when, string task);

    [LoggerMessage(Level = LogLevel.Information, Message = "Beat: code schedule {Schedule} is no longer defined by this app; removed from the schedule store")]
    private partial void LogCodeScheduleRemoved(string schedule);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Beat: schedule {Schedule} has an invalid stored definition and is ignored")]
    private partial void LogBadDefinition(Exception exception, string schedule);
}
