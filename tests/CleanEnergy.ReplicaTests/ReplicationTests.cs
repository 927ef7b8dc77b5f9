using System.Collections.Concurrent;
using System.Text.Json;
using CleanEnergy.Contracts;
using CleanEnergy.Replica.Data;
using CleanEnergy.Replica.Users;
using Celeriac;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace CleanEnergy.ReplicaTests;

/// <summary>
/// The durable subscription's handler (<see cref="UserReplication"/>) against a real SQLite file: upserts, deletes,
/// versions that arrive late or twice, and the pushes to the user's personal group.
/// </summary>
public sealed class ReplicationTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("replica-tests-");
    private readonly RecordingLayer _layer = new();

    private string ConnectionString => $"Data Source={Path.Combine(_directory.FullName, "replica.db")};Pooling=False;Default Timeout=30";

    private ReplicaDb NewDb() => new(new DbContextOptionsBuilder<ReplicaDb>().UseSqlite(ConnectionString).Options);

    private async Task<UserReplication> NewReplicationAsync(ReplicaDb db)
    {
        await ReplicaDatabase.EnsureCreatedAsync(db, CancellationToken.None);
        return new UserReplication(db, _layer, TimeProvider.System, NullLogger<UserReplication>.Instance);
    }

    private static UserChanged Upsert(int id, string name, string displayName, long version) =>
        new(UserChanged.OpUpsert, id, name, displayName, $"{name}@example.com", version, T0.AddMinutes(version));

    private static UserChanged Delete(int id, long version) => new(UserChanged.OpDelete, id, null, null, null, version, T0.AddMinutes(version));

    [Fact]
    public async Task Upsert_creates_then_a_newer_version_updates_and_each_is_pushed_to_the_users_group()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);

        Assert.Equal(ReplicationOutcome.Created, await replication.HandleAsync(Upsert(7, "alice", "Alice Demo", 1), null, default));
        var alice = await replication.FindAsync(7);
        Assert.NotNull(alice);
        Assert.Equal(("alice", "Alice Demo", "alice@example.com", 1L, T0.AddMinutes(1).UtcDateTime), (alice.UserName, alice.DisplayName, alice.Email, alice.Version, alice.UpdatedAt));

        Assert.Equal(ReplicationOutcome.Updated, await replication.HandleAsync(Upsert(7, "alice", "Alice Liddell", 2), null, default));
        alice = await replication.FindAsync(7);
        Assert.Equal(("Alice Liddell", 2L), (alice!.DisplayName, alice.Version));
        Assert.Equal(7, (await replication.FindByNameAsync("alice"))!.Id);

        // Both went to alice's personal group, with the fields the page shows.
        Assert.Equal(["user.7", "user.7"], _layer.Sent.Select(s => s.Group));
        var pushed = _layer.Sent[^1].Message;
        Assert.Equal("user.changed", pushed.GetProperty("type").GetString());
        Assert.Equal("upsert", pushed.GetProperty("op").GetString());
        Assert.Equal(7, pushed.GetProperty("userId").GetInt32());
        Assert.Equal("Alice Liddell", pushed.GetProperty("displayName").GetString());
        Assert.Equal("alice@example.com", pushed.GetProperty("email").GetString());
        Assert.Equal(2, pushed.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task An_update_for_a_missing_user_creates_it()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);

        // Version 5 of a user whose earlier versions this replica never saw (it subscribed later, or they were lost).
        Assert.Equal(ReplicationOutcome.Created, await replication.HandleAsync(Upsert(9, "carol", "Carol", 5), null, default));
        Assert.Equal(("carol", 5L), ((await replication.FindAsync(9))!.UserName, (await replication.FindAsync(9))!.Version));
        Assert.Equal("user.9", Assert.Single(_layer.Sent).Group);
    }

    [Fact]
    public async Task A_delete_removes_the_user_and_a_delete_of_a_missing_user_is_a_no_op()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);
        await replication.HandleAsync(Upsert(2, "bob", "Bob Demo", 1), null, default);

        Assert.Equal(ReplicationOutcome.Deleted, await replication.HandleAsync(Delete(2, 2), null, default));
        Assert.Null(await replication.FindAsync(2));
        Assert.Null(await replication.FindByNameAsync("bob"));
        Assert.Empty(await replication.ListAsync());
        Assert.Equal("delete", _layer.Sent[^1].Message.GetProperty("op").GetString());   // bob's open page learns it

        // A user this replica never had: nothing to delete, no error, no user appears, nobody is told.
        var pushes = _layer.Sent.Count;
        Assert.Equal(ReplicationOutcome.NothingToDelete, await replication.HandleAsync(Delete(42, 3), null, default));
        Assert.Null(await replication.FindAsync(42));
        Assert.Empty(await replication.ListAsync());
        Assert.Equal(pushes, _layer.Sent.Count);
    }

    [Fact]
    public async Task An_older_version_never_overwrites_a_newer_one_nor_brings_a_deleted_user_back()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);
        await replication.HandleAsync(Upsert(3, "dave", "Dave 3", 3), null, default);
        var pushes = _layer.Sent.Count;

        // Version 2 arrives after version 3 (its first delivery failed and its retry came later).
        Assert.Equal(ReplicationOutcome.Stale, await replication.HandleAsync(Upsert(3, "dave", "Dave 2", 2), null, default));
        Assert.Equal(("Dave 3", 3L), ((await replication.FindAsync(3))!.DisplayName, (await replication.FindAsync(3))!.Version));
        Assert.Equal(pushes, _layer.Sent.Count);   // a stale change is not pushed: the page would go back in time

        // Deleted at version 4; a late version 3 must not resurrect the user.
        Assert.Equal(ReplicationOutcome.Deleted, await replication.HandleAsync(Delete(3, 4), null, default));
        Assert.Equal(ReplicationOutcome.Stale, await replication.HandleAsync(Upsert(3, "dave", "Dave 3", 3), null, default));
        Assert.Null(await replication.FindAsync(3));

        // The same for a delete that came first, for a user this replica never had: its late creation stays out.
        Assert.Equal(ReplicationOutcome.NothingToDelete, await replication.HandleAsync(Delete(11, 2), null, default));
        Assert.Equal(ReplicationOutcome.Stale, await replication.HandleAsync(Upsert(11, "erin", "Erin", 1), null, default));
        Assert.Null(await replication.FindAsync(11));
    }

    [Fact]
    public async Task A_redelivered_event_is_harmless_and_pushed_again()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);
        var change = Upsert(5, "frank", "Frank", 1);
        Assert.Equal(ReplicationOutcome.Created, await replication.HandleAsync(change, null, default));
        var stored = await replication.FindAsync(5);

        // At least once: the same event again (a worker died after storing it, before the ack).
        Assert.Equal(ReplicationOutcome.Repeated, await replication.HandleAsync(change, null, default));
        Assert.Equal(ReplicationOutcome.Repeated, await replication.HandleAsync(change, null, default));
        var again = await replication.FindAsync(5);
        Assert.Equal((stored!.UserName, stored.DisplayName, stored.Email, stored.Version, stored.UpdatedAt), (again!.UserName, again.DisplayName, again.Email, again.Version, again.UpdatedAt));
        Assert.Single(await replication.ListAsync());
        // Pushed again each time (the delivery that stored it may have died before its push); the page shows the same.
        Assert.Equal(3, _layer.Sent.Count);
        Assert.All(_layer.Sent, s => Assert.Equal("Frank", s.Message.GetProperty("displayName").GetString()));
    }

    [Fact]
    public async Task Concurrent_handlers_with_shuffled_versions_leave_the_newest()
    {
        await using (var db = NewDb()) await NewReplicationAsync(db);
        var versions = Enumerable.Range(1, 30).Select(v => (long)v).OrderBy(_ => Random.Shared.Next()).ToList();
        var outcomes = new ConcurrentBag<ReplicationOutcome>();
        await Parallel.ForEachAsync(versions, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (version, ct) =>
        {
            await using var db = NewDb();
            var replication = new UserReplication(db, _layer, TimeProvider.System, NullLogger<UserReplication>.Instance);
            outcomes.Add(await replication.ApplyAsync(Upsert(1, "alice", $"Alice {version}", version), ct));
        });
        await using var check = NewDb();
        var alice = await check.Users.SingleAsync();
        Assert.Equal(("Alice 30", 30L), (alice.DisplayName, alice.Version));
        // Each write decided atomically: whatever the interleaving, only the newest version stayed.
        Assert.Contains(ReplicationOutcome.Created, outcomes);
        Assert.DoesNotContain(ReplicationOutcome.Repeated, outcomes);
    }

    [Fact]
    public async Task A_change_that_breaks_the_contract_is_refused()
    {
        await using var db = NewDb();
        var replication = await NewReplicationAsync(db);
        await Assert.ThrowsAsync<ArgumentException>(() => replication.ApplyAsync(new UserChanged("rename", 1, "a", "A", "", 1, T0), default));
        await Assert.ThrowsAsync<ArgumentException>(() => replication.ApplyAsync(new UserChanged(UserChanged.OpUpsert, 1, null, "A", "", 1, T0), default));
        Assert.Empty(await replication.ListAsync());
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _directory.Delete(recursive: true); } catch (IOException) { }
    }

    /// <summary>A channel layer that records group sends.</summary>
    private sealed class RecordingLayer : IChannelLayer
    {
        private readonly object _gate = new();
        private readonly List<(string Group, JsonElement Message)> _sent = [];

        public IReadOnlyList<(string Group, JsonElement Message)> Sent
        {
            get { lock (_gate) return [.. _sent]; }
        }

        public ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default)
        {
            var json = JsonSerializer.SerializeToElement(message, message.GetType(), JsonSerializerOptions.Web);
            lock (_gate)
            {
                _sent.Add((group, json));
                return ValueTask.FromResult(new GroupMessage(group, _sent.Count, json.GetProperty("type").GetString()!, json, DateTimeOffset.UtcNow));
            }
        }

        public ValueTask<GroupHistory> ReadHistoryAsync(string group, long afterOffset, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public ValueTask<IAsyncDisposable> SubscribeAsync(string group, Func<GroupMessage, ValueTask> onMessage, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public ValueTask ReportMembersAsync(string node, IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> members, TimeSpan timeToLive, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public ValueTask<IReadOnlyList<GroupMember>> GetMembersAsync(string group, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
