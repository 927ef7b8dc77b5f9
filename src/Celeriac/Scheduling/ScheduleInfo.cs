namespace Celeriac;

/// <summary>A schedule as the store holds it now, with its last and next tick.</summary>
/// <param name="Definition">What it sends and when.</param>
/// <param name="Paused">Whether the scheduler skips it.</param>
/// <param name="LastTick">The scheduled time of the last tick fired, or <see langword="null"/> when none was.</param>
/// <param name="LastFiredAt">When the last tick was fired (recorded, then sent).</param>
/// <param name="NextTick">The next tick due from now, or <see langword="null"/> when paused or when it has no more ticks.</param>
/// <param name="UpdatedAt">When it was created, last changed, paused or resumed (ticks before it are never fired); <see langword="null"/> for a code schedule no scheduler has written to the store yet.</param>
public sealed record ScheduleInfo(ScheduleDefinition Definition, bool Paused, DateTimeOffset? LastTick, DateTimeOffset? LastFiredAt, DateTimeOffset? NextTick, DateTimeOffset? UpdatedAt)
{
    /// <summary>The schedule's name.</summary>
    public string Name => Definition.Name;
}
