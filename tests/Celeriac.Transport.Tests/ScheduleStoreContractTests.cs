using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// What every <see cref="IScheduleStore"/> must do, run against each transport's store (a one-line subclass each).
/// The tick record is the exactly-once promise of beat: of two schedulers recording the same tick, one wins.
/// </summary>
public abstract class ScheduleStoreContractTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    protected abstract TransportHarness Open(TimeProvider time);

    /// <summary>A second view of the same storage, as another process would have (the same one when the store is in-process).</summary>
    protected virtual TransportHarness OpenSecond(TransportHarness first) => first;

    private static IScheduleStore Store(TransportHarness h) => h.Services.GetRequiredService<IScheduleStore>();

    [Fact]
    public async Task Save_modes_create_replace_and_refuse_as_documented()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        Assert.Empty(await store.ListAsync());

        Assert.False(await store.SaveAsync("a", "{\"v\":1}", ScheduleSaveMode.ReplaceOnly));
        Assert.True(await store.SaveAsync("a", "{\"v\":1}", ScheduleSaveMode.AddOnly));
        Assert.False(await store.SaveAsync("a", "{\"v\":2}", ScheduleSaveMode.AddOnly));
        var row = Assert.Single(await store.ListAsync());
        Assert.Equal(new StoredSchedule("a", "{\"v\":1}", false, Start, null, null), row);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await store.SaveAsync("a", "{\"v\":1}", ScheduleSaveMode.Upsert));   // same text: not a change
        Assert.Equal(Start, Assert.Single(await store.ListAsync()).UpdatedAt);
        Assert.True(await store.SaveAsync("a", "{\"v\":1}", ScheduleSaveMode.ReplaceOnly));   // exists
        Assert.Equal(Start, Assert.Single(await store.ListAsync()).UpdatedAt);
        Assert.True(await store.SaveAsync("a", "{\"v\":3}", ScheduleSaveMode.Upsert));
        Assert.Equal(("{\"v\":3}", Start.AddSeconds(1)), Assert.Single(await store.ListAsync()) is var r ? (r.Definition, r.UpdatedAt) : default);

        Assert.True(await store.SaveAsync("b", "{}", ScheduleSaveMode.Upsert));
        Assert.Equal(["a", "b"], (await store.ListAsync()).Select(s => s.Name));
        Assert.True(await store.RemoveAsync("b"));
        Assert.False(await store.RemoveAsync("b"));
    }

    [Fact]
    public async Task A_tick_is_recorded_once_and_only_forward_and_a_definition_change_keeps_it()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        await store.SaveAsync("s", "{}", ScheduleSaveMode.AddOnly);
        var tick = Start.AddSeconds(10);
        time.Advance(TimeSpan.FromMilliseconds(10_004));

        Assert.True(await store.TryRecordTickAsync("s", tick));
        Assert.False(await store.TryRecordTickAsync("s", tick));
        Assert.False(await store.TryRecordTickAsync("s", tick.AddMilliseconds(-500)));
        Assert.False(await store.TryRecordTickAsync("missing", tick));
        var row = Assert.Single(await store.ListAsync());
        Assert.Equal(tick, row.LastTick);
        Assert.Equal(Start.AddMilliseconds(10_004), row.LastFiredAt);

        Assert.True(await store.SaveAsync("s", "{\"changed\":true}", ScheduleSaveMode.ReplaceOnly));
        Assert.Equal(tick, Assert.Single(await store.ListAsync()).LastTick);
        Assert.True(await store.TryRecordTickAsync("s", tick.AddMilliseconds(500)));
    }

    [Fact]
    public async Task Concurrent_records_of_one_tick_from_two_views_succeed_exactly_once()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        await Store(a).SaveAsync("s", "{}", ScheduleSaveMode.AddOnly);
        for (var i = 1; i <= 50; i++)
        {
            var tick = Start.AddMilliseconds(500 * i);
            var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(n => Task.Run(async () => await Store(n % 2 == 0 ? a : b).TryRecordTickAsync("s", tick))));
            Assert.Equal(1, results.Count(x => x));
        }
    }

    /// <summary>
    /// Ways this store's own schedule records can be damaged behind its back (a field missing or of another type, the
    /// key of another type); none for a store whose records are typed objects.
    /// </summary>
    protected virtual IReadOnlyList<string> Damages => [];

    /// <summary>Damages the stored record of <paramref name="name"/> as <paramref name="damage"/> names.</summary>
    protected virtual Task DamageAsync(TransportHarness h, string name, string damage) => Task.CompletedTask;

    [Fact]
    public async Task A_damaged_schedule_record_costs_only_itself_and_a_save_repairs_it()
    {
        foreach (var damage in Damages)
        {
            var time = new FakeTimeProvider(Start);
            await using var h = Open(time);
            var store = Store(h);
            await store.SaveAsync("a-good", "{\"v\":1}", ScheduleSaveMode.AddOnly);
            await store.SaveAsync("b-bad", "{\"v\":1}", ScheduleSaveMode.AddOnly);
            await store.SaveAsync("c-good", "{\"v\":1}", ScheduleSaveMode.AddOnly);
            Assert.True(await store.TryRecordTickAsync("b-bad", Start.AddSeconds(1)));
            await DamageAsync(h, "b-bad", damage);

            // The list still reads, with both good schedules exactly as stored and the damaged one named.
            var rows = await store.ListAsync();
            Assert.Equal(["a-good", "b-bad", "c-good"], rows.Select(r => r.Name));
            Assert.All(rows.Where(r => r.Name != "b-bad"), r => Assert.Equal(new StoredSchedule(r.Name, "{\"v\":1}", false, Start, null, null), r));

            // The good schedules go on recording ticks exactly once.
            Assert.True(await store.TryRecordTickAsync("a-good", Start.AddSeconds(2)));
            Assert.False(await store.TryRecordTickAsync("a-good", Start.AddSeconds(2)));
            Assert.True(await store.TryRecordTickAsync("c-good", Start.AddSeconds(2)));

            // Saving the damaged one again makes it whole: its definition reads back and its ticks record once.
            Assert.True(await store.SaveAsync("b-bad", "{\"v\":2}", ScheduleSaveMode.Upsert), damage);
            var repaired = Assert.Single(await store.ListAsync(), r => r.Name == "b-bad");
            Assert.Equal("{\"v\":2}", repaired.Definition);
            Assert.True(await store.TryRecordTickAsync("b-bad", Start.AddSeconds(3)), damage);
            Assert.False(await store.TryRecordTickAsync("b-bad", Start.AddSeconds(3)), damage);
            Assert.Equal(Start.AddSeconds(3), Assert.Single(await store.ListAsync(), r => r.Name == "b-bad").LastTick);
        }
    }

    [Fact]
    public async Task Pausing_and_resuming_sets_the_flag_and_marks_a_change()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var store = Store(h);
        Assert.False(await store.SetPausedAsync("s", true));
        await store.SaveAsync("s", "{}", ScheduleSaveMode.AddOnly);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(await store.SetPausedAsync("s", true));
        Assert.Equal((true, Start.AddSeconds(5)), Assert.Single(await store.ListAsync()) is var r ? (r.Paused, r.UpdatedAt) : default);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(await store.SetPausedAsync("s", true));                                 // no change
        Assert.Equal(Start.AddSeconds(5), Assert.Single(await store.ListAsync()).UpdatedAt);
        Assert.True(await store.SetPausedAsync("s", false));
        Assert.Equal((false, Start.AddSeconds(10)), Assert.Single(await store.ListAsync()) is var s ? (s.Paused, s.UpdatedAt) : default);
    }
}

public sealed class InMemoryScheduleStoreTests : ScheduleStoreContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.InMemory(time);
}

public sealed class SqliteScheduleStoreTests : ScheduleStoreContractTests
{
    private string? _path;

    protected override TransportHarness Open(TimeProvider time)
    {
        _path = Fixtures.TempDatabasePath();
        var path = _path;
        return new TransportHarness(c => c.UseSqlite(path), time, () => Fixtures.DeleteDatabase(path));
    }

    /// <summary>A second engine (its own writer connection) on the same file, as another process.</summary>
    protected override TransportHarness OpenSecond(TransportHarness first) => Fixtures.Sqlite(_path!, first.Time);

    protected override IReadOnlyList<string> Damages =>
    [
        "last_tick = 'soon'", "last_tick = 99999999999999999", "last_tick = 2.5", "last_tick = NULL", "updated_at = 'yesterday'",
        "updated_at = -99999999999999999", "last_fired_at = X'00FF'", "paused = 'yes'", "definition = X'00FF'",
        "definition = 12",
    ];

    protected override async Task DamageAsync(TransportHarness h, string name, string damage)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = 30000; UPDATE schedules SET {damage} WHERE name = $name;";
        command.Parameters.AddWithValue("$name", name);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
