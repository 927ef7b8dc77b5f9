using System.Collections.Concurrent;
using Celeriac.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// What only the SQLite store promises: several engines on one file (as several processes would have) share queues
/// and results and wake each other; data outlives the engine; group commit isolates a failing write.
/// </summary>
public sealed class SqliteEngineTests : IDisposable
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly string _path = Fixtures.TempDatabasePath();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Fixtures.DeleteDatabase(_path);
    }

    private static OutgoingMessage Message(string id, string queue = "q") => new(id, queue, 0, "body-" + id);

    [Fact]
    public async Task One_engine_sends_and_a_waiting_receive_on_another_wakes()
    {
        await using var sender = Fixtures.Sqlite(_path, TimeProvider.System);
        await using var receiver = Fixtures.Sqlite(_path, TimeProvider.System);
        Assert.Empty(await receiver.Transport.GetQueueStatsAsync());

        var receive = receiver.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(30)).AsTask();
        Assert.False(receive.IsCompleted);
        await sender.Transport.EnqueueAsync([Message("a")]);

        var received = Assert.Single(await receive.WaitAsync(Bound));
        Assert.Equal(("a", "body-a"), (received.Id, received.Body));
        Assert.True(await receiver.Transport.AckAsync(received));
        Assert.Empty(await sender.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task Result_wait_on_one_engine_wakes_on_a_write_by_another()
    {
        await using var worker = Fixtures.Sqlite(_path, TimeProvider.System);
        await using var caller = Fixtures.Sqlite(_path, TimeProvider.System);
        await caller.Results.GetAsync("warm-up");

        var wait = caller.Results.WaitAsync("t1", TimeSpan.FromSeconds(30)).AsTask();
        Assert.False(wait.IsCompleted);
        await worker.Results.SetAsync(new TaskResult("t1", "x", TaskStates.Success, "42", null, 0, DateTimeOffset.UtcNow), null);

        var result = await wait.WaitAsync(Bound);
        Assert.Equal((TaskStates.Success, "42"), (result?.State, result?.Result));
    }

    [Fact]
    public async Task Receivers_on_two_engines_never_get_the_same_message_while_it_is_leased()
    {
        await using var a = Fixtures.Sqlite(_path, TimeProvider.System);
        await using var b = Fixtures.Sqlite(_path, TimeProvider.System);
        const int count = 400;
        await a.Transport.EnqueueAsync([.. Enumerable.Range(0, count).Select(n => Message("m" + n))]);

        var seen = await Fixtures.ReceiveAllConcurrentlyAsync([a.Transport, a.Transport, b.Transport, b.Transport], batch: 5).WaitAsync(Bound);

        Assert.Equal(count, seen.Count);
        Assert.Equal(count, seen.Distinct().Count());
    }

    [Fact]
    public async Task Messages_results_and_dead_letters_outlive_the_engine()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        await using (var first = Fixtures.Sqlite(_path, time))
        {
            await first.Transport.EnqueueAsync([Message("a"), Message("b")]);
            var b = (await first.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero)).Single(m => m.Id == "b");
            await first.Transport.DeadLetterAsync(b, new DeadLetterInfo("failed", "X", "broken", null));
            await first.Results.SetAsync(new TaskResult("b", "x", TaskStates.Failure, null, new TaskError("X", "broken", null), 0, time.GetUtcNow()), null);
        }

        time.Advance(Lease + TimeSpan.FromSeconds(1));
        await using var second = Fixtures.Sqlite(_path, time);
        var again = Assert.Single(await second.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero));
        Assert.Equal(("a", 2), (again.Id, again.DeliveryCount));
        Assert.Equal("b", Assert.Single(await second.Transport.GetDeadLettersAsync(10)).Id);
        Assert.Equal(TaskStates.Failure, (await second.Results.GetAsync("b"))?.State);
    }

    [Fact]
    public async Task File_is_created_in_wal_mode_with_the_schema_version()
    {
        await using (var h = Fixtures.Sqlite(_path, TimeProvider.System))
            await h.Transport.GetQueueStatsAsync();

        Assert.True(File.Exists(_path));
        using var connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteSchema.Version, command.ExecuteScalar());

        // Opening again finds the schema and keeps it.
        await using var reopened = Fixtures.Sqlite(_path, TimeProvider.System);
        Assert.Empty(await reopened.Transport.GetQueueStatsAsync());
    }

    [Fact]
    public async Task A_failing_write_fails_alone_in_its_batch()
    {
        await using var h = Fixtures.Sqlite(_path, TimeProvider.System);
        var good = Enumerable.Range(0, 50).Select(n => h.Transport.EnqueueAsync([Message("g" + n)]).AsTask()).ToList();
        // A null body breaks the NOT NULL constraint; the message record allows it at run time.
        var bad = h.Transport.EnqueueAsync([Message("bad1"), new OutgoingMessage("bad2", "q", 0, null!)]).AsTask();
        good.AddRange(Enumerable.Range(50, 50).Select(n => h.Transport.EnqueueAsync([Message("g" + n)]).AsTask()));

        await Task.WhenAll(good).WaitAsync(Bound);
        await Assert.ThrowsAsync<SqliteException>(() => bad.WaitAsync(Bound));
        var stats = Assert.Single(await h.Transport.GetQueueStatsAsync());
        Assert.Equal(100, stats.Ready);
    }

    [Fact]
    public async Task Many_concurrent_writes_are_all_committed()
    {
        await using var h = Fixtures.Sqlite(_path, TimeProvider.System);
        await Task.WhenAll(Enumerable.Range(0, 2000).Select(n => Task.Run(async () =>
        {
            await h.Transport.EnqueueAsync([Message("m" + n)]);
            await h.Results.SetAsync(new TaskResult("m" + n, "x", TaskStates.Success, null, null, 0, DateTimeOffset.UtcNow), null);
        }))).WaitAsync(Bound * 3);

        Assert.Equal(2000, Assert.Single(await h.Transport.GetQueueStatsAsync()).Ready);
        Assert.NotNull(await h.Results.GetAsync("m1999"));
    }

    [Fact]
    public async Task Expired_results_and_keys_are_deleted_by_the_writer()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        await using var h = Fixtures.Sqlite(_path, time);
        await h.Results.SetAsync(new TaskResult("old", "x", TaskStates.Success, null, null, 0, time.GetUtcNow()), time.GetUtcNow() + TimeSpan.FromMinutes(1));
        await h.Transport.EnqueueAsync([new OutgoingMessage("k", "q", 0, "b", null, "key", time.GetUtcNow() + TimeSpan.FromMinutes(1))]);
        Assert.Equal(1, Count("results"));

        time.Advance(TimeSpan.FromMinutes(2));
        await h.Results.SetAsync(new TaskResult("new", "x", TaskStates.Success, null, null, 0, time.GetUtcNow()), null);
        await Eventually(() => Count("results") == 1 && Count("idempotency") == 0);
        Assert.NotNull(await h.Results.GetAsync("new"));
    }

    [Fact]
    public async Task Directory_of_the_file_is_created()
    {
        var nested = Path.Combine(Path.GetDirectoryName(_path)!, "a", "b", "queue.db");
        try
        {
            await using var h = Fixtures.Sqlite(nested, TimeProvider.System);
            await h.Transport.EnqueueAsync([Message("a")]);
            Assert.True(File.Exists(nested));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Fixtures.DeleteDatabase(nested);
            Directory.Delete(Path.Combine(Path.GetDirectoryName(_path)!, "a"), recursive: true);
        }
    }

    [Fact]
    public async Task UseSqlite_shares_one_engine_and_replaces_the_previous_transport()
    {
        var services = new ServiceCollection();
        services.AddCeleriac(c => c.UseInMemory().UseSqlite(_path, o => o.PollInterval = TimeSpan.FromMilliseconds(10)));
        await using var provider = services.BuildServiceProvider();

        var transport = Assert.IsType<SqliteTransport>(provider.GetRequiredService<ITaskTransport>());
        Assert.IsType<SqliteResultStore>(provider.GetRequiredService<IResultStore>());
        Assert.Single(provider.GetServices<ITaskTransport>());
        var engine = provider.GetRequiredService<SqliteEngine>();
        Assert.Same(engine, provider.GetRequiredService<SqliteEngine>());
        Assert.Equal(Path.GetFullPath(_path), engine.Path);
        await transport.EnqueueAsync([Message("a")]);
    }

    [Fact]
    public async Task Calls_after_dispose_fail_and_a_waiting_receive_ends()
    {
        var h = Fixtures.Sqlite(_path, TimeProvider.System);
        var transport = h.Transport;
        await transport.EnqueueAsync([Message("a")]);
        var receive = transport.ReceiveAsync(["other"], 1, Lease, TimeSpan.FromSeconds(30)).AsTask();
        await h.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => receive.WaitAsync(Bound));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => transport.EnqueueAsync([Message("b")]).AsTask());
    }

    [Fact]
    public async Task Synchronous_dispose_closes_the_file_for_the_next_engine()
    {
        var services = new ServiceCollection();
        services.AddCeleriac(c => c.UseSqlite(_path));
        var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<ITaskTransport>().EnqueueAsync([Message("a")]);
        await provider.GetRequiredService<IResultStore>().GetAsync("a");
        provider.Dispose();

        await using var next = Fixtures.Sqlite(_path, TimeProvider.System);
        Assert.Equal("a", Assert.Single(await next.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero)).Id);
    }

    [Fact]
    public async Task A_receive_cancelled_while_its_lease_is_being_taken_gives_the_messages_back()
    {
        await using var h = Fixtures.Sqlite(_path, TimeProvider.System);
        var engine = h.Services.GetRequiredService<SqliteEngine>();
        await h.Transport.EnqueueAsync([Message("a")]);

        // Hold the write loop so the receive lands in the next batch, followed by an op that signals and waits.
        using var first = new ManualResetEventSlim();
        using var second = new ManualResetEventSlim();
        var inFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold1 = engine.WriteAsync(static (_, s) => { s.Signal.TrySetResult(); return s.Gate.Wait(TimeSpan.FromSeconds(30)); }, (Signal: inFirst, Gate: first), false, false, CancellationToken.None);
        await inFirst.Task.WaitAsync(Bound);
        using var cancel = new CancellationTokenSource();
        var receive = h.Transport.ReceiveAsync(["q"], 10, TimeSpan.FromHours(1), TimeSpan.Zero, cancel.Token).AsTask();
        var hold2 = engine.WriteAsync(static (_, s) => { s.Signal.TrySetResult(); return s.Gate.Wait(TimeSpan.FromSeconds(30)); }, (Signal: inSecond, Gate: second), false, false, CancellationToken.None);
        first.Set();
        await inSecond.Task.WaitAsync(Bound);   // the receive has leased "a" in this (uncommitted) batch

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receive.WaitAsync(Bound));
        second.Set();
        await Task.WhenAll(hold1, hold2).WaitAsync(Bound);

        var again = await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Bound);
        Assert.Equal("a", Assert.Single(again).Id);
    }

    [Fact]
    public async Task Writes_wait_for_another_process_holding_the_write_lock()
    {
        await using var h = new TransportHarness(c => c.UseSqlite(_path, o => o.BusyTimeout = TimeSpan.FromMilliseconds(100)), TimeProvider.System);
        await h.Transport.EnqueueAsync([Message("warm-up")]);

        using var other = new SqliteConnection($"Data Source={_path};Pooling=False");
        other.Open();
        using var command = other.CreateCommand();
        command.CommandText = "BEGIN IMMEDIATE; DELETE FROM messages WHERE id = 'warm-up';";
        command.ExecuteNonQuery();
        var enqueue = h.Transport.EnqueueAsync([Message("a")]).AsTask();
        await Task.WhenAny(enqueue, Task.Delay(TimeSpan.FromMilliseconds(300)));
        Assert.False(enqueue.IsCompleted);

        command.CommandText = "COMMIT;";
        command.ExecuteNonQuery();
        Assert.Equal(["a"], await enqueue.WaitAsync(Bound));
        Assert.Equal(["a"], (await h.Transport.ReceiveAsync(["q"], 10, Lease, TimeSpan.Zero)).Select(m => m.Id));
    }

    private int Count(string table)
    {
        using var connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {table};";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Bound);
        while (!condition())
            await Task.Delay(10, timeout.Token);
    }
}
