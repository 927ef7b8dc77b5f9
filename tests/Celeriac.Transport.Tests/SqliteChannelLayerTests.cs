using Celeriac.Redis;
using Celeriac.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

/// <summary>
/// The channel layer in a SQLite file: the contract suite (a second service provider on the same file is another
/// process: its own engine, writer connection, change monitor and feed), plus what only this layer does: the tables
/// are pruned, and a file of the previous schema is brought up to date.
/// </summary>
public sealed class SqliteChannelLayerTests : ChannelLayerContractTests, IDisposable
{
    private readonly List<string> _paths = [];
    private string? _path;
    private Action<ChannelLayerOptions>? _configure;

    protected override ChannelLayerHarness Open(TimeProvider time, Action<ChannelLayerOptions>? configure = null)
    {
        _paths.Add(_path = Fixtures.TempDatabasePath());
        _configure = configure;
        return Harness(_path, time, configure);
    }

    /// <summary>Another engine on the same file with the same options, as another process would have.</summary>
    protected override ChannelLayerHarness OpenSecond(ChannelLayerHarness first) => Harness(_path!, first.Time, _configure);

    internal static ChannelLayerHarness Harness(string path, TimeProvider time, Action<ChannelLayerOptions>? configure = null) =>
        new(c => c.UseSqlite(path), time, configure);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var path in _paths) Fixtures.DeleteDatabase(path);
    }

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> row)
    {
        using var connection = new SqliteConnection($"Data Source={_path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(row(reader));
        return rows;
    }

    private void Execute(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static Task<int> PruneAsync(ChannelLayerHarness h) =>
        h.Services.GetRequiredService<SqliteEngine>().WriteAsync(static (w, _) => SqliteChannelLayer.Prune(w), 0, wakesReceivers: false, atomic: true, CancellationToken.None);

    [Fact]
    public void UseSqlite_replaces_the_in_memory_layer_and_a_later_UseRedis_or_UseInMemory_replaces_it()
    {
        static IChannelLayer LayerOf(Action<CeleriacBuilder> use, out ServiceProvider provider)
        {
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddCeleriac(use);
            services.AddCeleriac();                                    // twice is harmless
            Assert.Single(services, d => d.ServiceType == typeof(IChannelLayer));
            provider = services.BuildServiceProvider();
            return provider.GetRequiredService<IChannelLayer>();
        }

        var path = Fixtures.TempDatabasePath();
        _paths.Add(path);
        Assert.IsType<SqliteChannelLayer>(LayerOf(c => c.UseSqlite(path), out var sqlite));
        Assert.IsType<SqliteChannelLayer>(LayerOf(c => c.UseRedis("127.0.0.1:1").UseSqlite(path), out var redisThenSqlite));
        Assert.IsType<RedisChannelLayer>(LayerOf(c => c.UseSqlite(path).UseRedis("127.0.0.1:1"), out var sqliteThenRedis));
        Assert.IsNotType<SqliteChannelLayer>(LayerOf(c => c.UseSqlite(path).UseInMemory(), out var inMemory));
        foreach (var provider in new[] { sqlite, redisThenSqlite, sqliteThenRedis, inMemory }) provider.Dispose();
    }

    [Fact]
    public async Task History_rows_are_trimmed_to_the_length_at_each_send_and_go_with_the_window()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time, o => (o.HistoryLength, o.HistoryWindow) = (3, TimeSpan.FromMinutes(1)));
        await SendAsync(h.Layer, "chat", 1, 2, 3, 4, 5);
        await SendAsync(h.Layer, "news", 1);
        var start = Start.ToUnixTimeMilliseconds();

        Assert.Equal([("chat", 3L), ("chat", 4L), ("chat", 5L), ("news", 1L)],
            Query("SELECT group_name, group_offset FROM channel_history ORDER BY group_name, group_offset;", r => (r.GetString(0), r.GetInt64(1))));
        Assert.Equal([("chat", 5L, start + 60_000), ("news", 1L, start + 60_000)],
            Query("SELECT name, last_offset, history_until FROM channel_groups ORDER BY name;", r => (r.GetString(0), r.GetInt64(1), r.GetInt64(2))));
        Assert.Equal(6, Query("SELECT seq FROM channel_feed;", r => r.GetInt64(0)).Count);

        // A prune within the window keeps everything but feed rows older than the feed's retention.
        time.Advance(TimeSpan.FromSeconds(30));
        await PruneAsync(h);
        Assert.Equal(4, Query("SELECT 1 FROM channel_history;", r => r.GetInt32(0)).Count);

        // After the window: the history rows go, offsets stay; the feed keeps only its newest row.
        time.Advance(TimeSpan.FromMinutes(2));
        await PruneAsync(h);
        Assert.Empty(Query("SELECT 1 FROM channel_history;", r => r.GetInt32(0)));
        Assert.Equal([("chat", 5L, true), ("news", 1L, true)],
            Query("SELECT name, last_offset, history_until IS NULL FROM channel_groups ORDER BY name;", r => (r.GetString(0), r.GetInt64(1), r.GetBoolean(2))));
        Assert.Equal([6L], Query("SELECT seq FROM channel_feed;", r => r.GetInt64(0)));
        AssertHistory(false, 5, [], await h.Layer.ReadHistoryAsync("chat", 0));

        var next = await h.Layer.GroupSendAsync("chat", Msg(6));
        Assert.Equal(6, next.Offset);
        Assert.Equal([7L], Query("SELECT seq FROM channel_feed WHERE seq > 6;", r => r.GetInt64(0)));
        AssertHistory(true, 6, [6], await h.Layer.ReadHistoryAsync("chat", 5));
    }

    [Fact]
    public async Task A_send_after_the_window_ran_out_drops_the_old_history_before_any_prune()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time, o => o.HistoryWindow = TimeSpan.FromSeconds(10));
        await SendAsync(h.Layer, "g", 1, 2);
        time.Advance(TimeSpan.FromSeconds(11));
        await SendAsync(h.Layer, "g", 3);
        Assert.Equal([3L], Query("SELECT group_offset FROM channel_history;", r => r.GetInt64(0)));
    }

    [Fact]
    public async Task The_feed_prune_keeps_at_most_the_newest_ten_thousand_rows()
    {
        await using var h = Open(TimeProvider.System);
        await SendAsync(h.Layer, "g", 1);
        Execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10010)
            INSERT INTO channel_feed(group_name, group_offset, body, sent_at) SELECT 'bulk', i, '{"type":"x"}', 9000000000000 FROM n;
            """);
        await PruneAsync(h);
        var seqs = Query("SELECT seq FROM channel_feed ORDER BY seq;", r => r.GetInt64(0));
        Assert.Equal(10_000, seqs.Count);
        Assert.Equal((12L, 10_011L), (seqs[0], seqs[^1]));
    }

    [Fact]
    public async Task Expired_member_rows_are_deleted_by_the_next_report()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time);
        var ttl = TimeSpan.FromSeconds(30);
        await h.Layer.ReportMembersAsync("web-1", new Dictionary<string, IReadOnlyList<GroupMember>>
        {
            ["a"] = [new GroupMember("web-1", "c1", null, Start)],
            ["b"] = [new GroupMember("web-1", "c1", null, Start)],
        }, ttl);
        Assert.Equal(["web-1", "web-1"], Query("SELECT node FROM channel_members;", r => r.GetString(0)));

        time.Advance(ttl);
        Assert.Empty(await h.Layer.GetMembersAsync("a"));                       // ignored on read at once
        await h.Layer.ReportMembersAsync("web-2", new Dictionary<string, IReadOnlyList<GroupMember>> { ["a"] = [new GroupMember("web-2", "c2", "bob", Start)] }, ttl);
        Assert.Equal(["web-2"], Query("SELECT node FROM channel_members;", r => r.GetString(0)));
        Assert.Equal([new GroupMember("web-2", "c2", "bob", Start)], await h.Layer.GetMembersAsync("a"));
    }

    [Fact]
    public async Task A_version_4_file_gets_the_channel_tables_and_keeps_its_messages()
    {
        _paths.Add(_path = Fixtures.TempDatabasePath());
        await using (var old = Fixtures.Sqlite(_path, TimeProvider.System))
            await old.Transport.EnqueueAsync([new OutgoingMessage("m1", "q", 0, "{}")]);
        Execute("DROP TABLE channel_groups; DROP TABLE channel_history; DROP TABLE channel_feed; DROP TABLE channel_members; PRAGMA user_version = 4;");
        Assert.Empty(Query("SELECT name FROM sqlite_master WHERE name LIKE 'channel%';", r => r.GetString(0)));

        await using var reopened = Harness(_path, TimeProvider.System);
        var received = new TaskCompletionSource<GroupMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (await reopened.Layer.SubscribeAsync("g", m => { received.TrySetResult(m); return ValueTask.CompletedTask; }))
        {
            Assert.Equal(1, (await reopened.Layer.GroupSendAsync("g", Msg(1))).Offset);
            Assert.Equal(1, (await received.Task.WaitAsync(Bound)).Offset);
        }
        AssertHistory(true, 1, [1], await reopened.Layer.ReadHistoryAsync("g", 0));
        var messages = await reopened.Services.GetRequiredService<ITaskTransport>().ReceiveAsync(["q"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero);
        Assert.Equal(["m1"], messages.Select(m => m.Id));
        Assert.Equal([(long)SqliteSchema.Version], Query("PRAGMA user_version;", r => r.GetInt64(0)));
        Assert.Equal(7, SqliteSchema.Version);
    }

    [Fact]
    public async Task A_process_that_fell_behind_the_prune_goes_on_with_the_next_messages()
    {
        await using var web = Open(TimeProvider.System);
        await using var worker = OpenSecond(web);
        var recorder = new Recorder();
        await using var subscription = await web.Layer.SubscribeAsync("g", recorder.OnMessageAsync);
        await SendAsync(worker.Layer, "g", 1);
        await recorder.WaitForAsync(1);

        // Two rows were sent and pruned before the web process read them (as if it had stalled for a minute): the
        // next row's seq is 3 past the last one it read.
        Execute("""INSERT INTO channel_feed(seq, group_name, group_offset, body, sent_at) VALUES((SELECT MAX(seq) + 3 FROM channel_feed), 'g', 4, '{"type":"t","n":4}', 0);""");
        await recorder.WaitForAsync(2);
        Assert.Equal([1L, 4], recorder.Messages.Select(m => m.Offset));
    }
}
