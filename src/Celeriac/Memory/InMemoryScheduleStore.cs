using Celeriac.Transport;

namespace Celeriac.Memory;

/// <summary>Schedules in a dictionary under one lock, for one process.</summary>
internal sealed class InMemoryScheduleStore(TimeProvider time) : IScheduleStore
{
    private readonly Dictionary<string, StoredSchedule> _rows = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ValueTask<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult<IReadOnlyList<StoredSchedule>>([.. _rows.Values.OrderBy(r => r.Name, StringComparer.Ordinal)]);
    }

    public ValueTask<bool> SaveAsync(string name, string definition, ScheduleSaveMode mode, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(definition);
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_rows.TryGetValue(name, out var row))
            {
                if (mode == ScheduleSaveMode.ReplaceOnly) return ValueTask.FromResult(false);
                _rows[name] = new StoredSchedule(name, definition, Paused: false, now, LastTick: null, LastFiredAt: null);
                return ValueTask.FromResult(true);
            }
            if (mode == ScheduleSaveMode.AddOnly) return ValueTask.FromResult(false);
            var changed = row.Definition != definition;
            if (changed) _rows[name] = row with { Definition = definition, UpdatedAt = now };
            return ValueTask.FromResult(changed || mode == ScheduleSaveMode.ReplaceOnly);
        }
    }

    public ValueTask<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_rows.TryGetValue(name, out var row)) return ValueTask.FromResult(false);
            if (row.Paused != paused) _rows[name] = row with { Paused = paused, UpdatedAt = time.GetUtcNow() };
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult(_rows.Remove(name));
    }

    public ValueTask<bool> TryRecordTickAsync(string name, DateTimeOffset tick, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_rows.TryGetValue(name, out var row) || (row.LastTick is { } last && last >= tick)) return ValueTask.FromResult(false);
            _rows[name] = row with { LastTick = tick, LastFiredAt = time.GetUtcNow() };
            return ValueTask.FromResult(true);
        }
    }
}
