namespace Celeriac.Scheduling;

/// <summary>The schedules this app defines in code (<c>MapSchedule</c>). One per service provider.</summary>
internal sealed class ScheduleRegistry
{
    private readonly Dictionary<string, ScheduleDefinition> _schedules = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ScheduleDefinition Add(ScheduleDefinition schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var code = schedule.WithSource(ScheduleSource.Code);
        lock (_gate)
        {
            if (!_schedules.TryAdd(code.Name, code))
                throw new InvalidOperationException($"A schedule named '{code.Name}' is already mapped.");
        }
        return code;
    }

    public ScheduleDefinition? Find(string name)
    {
        lock (_gate) return _schedules.GetValueOrDefault(name);
    }

    public IReadOnlyList<ScheduleDefinition> All
    {
        get { lock (_gate) return [.. _schedules.Values.OrderBy(s => s.Name, StringComparer.Ordinal)]; }
    }
}

/// <summary>A signal pulsed when this process changes a schedule, so a scheduler here reloads at once.</summary>
internal sealed class ScheduleChanges
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next change.</summary>
    public Task Next => Volatile.Read(ref _changed).Task;

    public void Pulse() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
