using Celeriac.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

public sealed class SqliteEventStoreTests : EventStoreContractTests
{
    private string? _path;

    protected override TransportHarness Open(TimeProvider time) => Fixtures.SqliteTemp(_path = Fixtures.TempDatabasePath(), time);

    /// <summary>A second engine (its own writer connection and change monitor) on the same file, as another process.</summary>
    protected override TransportHarness OpenSecond(TransportHarness first) => Fixtures.Sqlite(_path!, first.Time);

    [Fact]
    public async Task Listeners_of_one_store_share_its_feed_and_each_starts_where_it_was_called()
    {
        await using var a = Open(TimeProvider.System);
        await using var b = OpenSecond(a);
        await using var first = new Listener(a.Events);
        await first.ReadyAsync(b.Events);
        for (var i = 1; i <= 20; i++) await b.Events.PublishAsync(Event("e" + i));
        Assert.Equal(Ids(1, 20), (await first.TakeAsync(20)).Select(e => e.Id));

        // Called now, enumerated only after the shared feed has read on: what came in between is read for it.
        using var cancel = new CancellationTokenSource(Bound);
        var late = a.Events.ListenAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        for (var i = 21; i <= 30; i++) await b.Events.PublishAsync(Event("e" + i));
        Assert.Equal(Ids(21, 30), (await first.TakeAsync(10)).Select(e => e.Id));
        await using var second = new Listener(a.Events);                 // joins the running feed
        for (var i = 31; i <= 35; i++) await b.Events.PublishAsync(Event("e" + i));

        var lateIds = new List<string>();
        while (lateIds.Count < 15 && await late.MoveNextAsync()) lateIds.Add(late.Current.Id);
        await late.DisposeAsync();
        Assert.Equal(Ids(21, 35), lateIds);
        Assert.Equal(Ids(31, 35), (await second.TakeAsync(5)).Select(e => e.Id));
        Assert.Equal(Ids(31, 35), (await first.TakeAsync(5)).Select(e => e.Id));
    }

    private static IEnumerable<string> Ids(int from, int to) => Enumerable.Range(from, to - from + 1).Select(i => "e" + i);
}

/// <summary>What only the SQLite event store promises: the event log is pruned without losing its place, and a file of an older schema is brought up to date.</summary>
public sealed class SqliteEventLogTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _path = Fixtures.TempDatabasePath();

    public void Dispose() => Fixtures.DeleteDatabase(_path);

    private static PublishedEvent Event(string id) => new(id, "things.happened", "{}");

    private List<string> LoggedIds()
    {
        using var connection = new SqliteConnection($"Data Source={_path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM events ORDER BY seq;";
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read()) ids.Add(reader.GetString(0));
        return ids;
    }

    private void Execute(string sql, long? cutoff = null)
    {
        using var connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (cutoff is { } c) command.Parameters.AddWithValue("@cutoff", c);
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task Publishing_now_and_then_prunes_events_older_than_a_minute()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Fixtures.Sqlite(_path, time);
        await h.Events.PublishAsync(Event("e1"));   // a process's first publish prunes (nothing yet), the next ones wait
        await h.Events.PublishAsync(Event("e2"));
        await h.Events.PublishAsync(Event("e3"));
        Assert.Equal(["e1", "e2", "e3"], LoggedIds());

        time.Advance(TimeSpan.FromMinutes(2));
        await h.Events.PublishAsync(Event("e4"));            // queues a prune behind it
        await h.Events.DeleteSubscriptionAsync("flush");      // a later write: the prune has run
        Assert.Equal(["e4"], LoggedIds());
    }

    [Fact]
    public async Task The_prune_keeps_the_newest_row_so_a_listener_cursor_never_skips_the_next_event()
    {
        await using (var h = Fixtures.Sqlite(_path, new FakeTimeProvider(Start)))
        {
            foreach (var id in new[] { "e1", "e2", "e3" }) await h.Events.PublishAsync(Event(id));
        }
        Execute(SqliteEventStore.PruneSql, cutoff: Start.AddHours(1).ToUnixTimeMilliseconds());   // every row is old
        Assert.Equal(["e3"], LoggedIds());

        await using var reopened = Fixtures.Sqlite(_path, TimeProvider.System);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await using var listener = reopened.Events.ListenAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        var next = listener.MoveNextAsync().AsTask();
        await reopened.Events.PublishAsync(Event("e4"));
        Assert.True(await next);
        Assert.Equal("e4", listener.Current.Id);
    }

    [Fact]
    public async Task The_prune_keeps_at_most_the_newest_hundred_thousand_rows()
    {
        await using (var h = Fixtures.Sqlite(_path, TimeProvider.System)) await h.Events.GetSubscriptionsAsync();
        Execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100010)
            INSERT INTO events(id, subject, body, published_at) SELECT 'e' || i, 'things.happened', '{}', 0 FROM n;
            """);
        Execute(SqliteEventStore.PruneSql, cutoff: 0);   // none is old: only the row limit applies
        var ids = LoggedIds();
        Assert.Equal(100_000, ids.Count);
        Assert.Equal(("e11", "e100010"), (ids[0], ids[^1]));
    }

    [Fact]
    public async Task A_version_3_file_gets_the_event_tables_and_keeps_its_messages()
    {
        await using (var h = Fixtures.Sqlite(_path, TimeProvider.System))
            await h.Transport.EnqueueAsync([new OutgoingMessage("m1", "q", 0, "{}")]);
        using (var connection = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE subscriptions; DROP TABLE events; PRAGMA user_version = 3;";
            command.ExecuteNonQuery();
        }

        await using var reopened = Fixtures.Sqlite(_path, TimeProvider.System);
        await reopened.Events.SaveSubscriptionAsync(new DurableSubscription("s", "things.*", "q", Start));
        Assert.Equal(["s"], await reopened.Events.PublishAsync(Event("e1")));
        Assert.Equal(["m1", "e1:s"], (await reopened.Transport.ReceiveAsync(["q"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero)).Select(m => m.Id));
        using var check = new SqliteConnection($"Data Source={_path};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteSchema.Version, (long)version.ExecuteScalar()!);
    }
}
