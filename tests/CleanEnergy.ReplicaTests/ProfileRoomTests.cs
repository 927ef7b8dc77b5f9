using System.Net;
using System.Text.Json;
using CleanEnergy.Contracts;

namespace CleanEnergy.ReplicaTests;

/// <summary>
/// The personal-room pattern on the replica's <c>/ws/profile</c>, with real WebSockets on Kestrel: a logged-in user may
/// join their own group <c>user.{id}</c> and no other; an anonymous or no longer replicated user gets no socket at all.
/// </summary>
public sealed class ProfileRoomTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    private static UserChanged Upsert(int id, string name, string displayName, long version) =>
        new(UserChanged.OpUpsert, id, name, displayName, $"{name}@example.com", version, T0.AddMinutes(version));

    [Fact]
    public async Task Alice_may_join_her_own_group_and_gets_its_changes_but_joining_bobs_group_is_refused()
    {
        await using var replica = await ReplicaTestApp.StartAsync();
        await replica.ApplyAsync(Upsert(1, "alice", "Alice Demo", 1));
        await replica.ApplyAsync(Upsert(2, "bob", "Bob Demo", 1));
        var alice = await replica.LoginAsync("alice");
        var bob = await replica.LoginAsync("bob");

        await using var aliceSocket = await replica.ConnectAsync(alice);
        await aliceSocket.JoinAsync("user.2");
        var refused = await aliceSocket.ReceiveAsync();
        Assert.Equal(("refused", "user.2"), (Frame(refused), refused.GetProperty("group").GetString()));
        // Nor any other group: a name that is no user's, the way the group is spelled by name, someone else's id.
        foreach (var group in new[] { "user.3", "user.alice", "user.1.x", "dashboard" })
        {
            await aliceSocket.JoinAsync(group);
            var answer = await aliceSocket.ReceiveAsync();
            Assert.Equal(("refused", group), (Frame(answer), answer.GetProperty("group").GetString()));
        }

        await aliceSocket.JoinAsync("user.1");
        var joined = await aliceSocket.ReceiveAsync();
        Assert.Equal(("joined", "user.1"), (Frame(joined), joined.GetProperty("group").GetString()));

        // Bob is in his own group; a change of alice's reaches alice's socket only.
        await using var bobSocket = await replica.ConnectAsync(bob);
        await bobSocket.JoinAsync("user.1");
        Assert.Equal("refused", Frame(await bobSocket.ReceiveAsync()));
        await bobSocket.JoinAsync("user.2");
        Assert.Equal("joined", Frame(await bobSocket.ReceiveAsync()));

        await replica.ApplyAsync(Upsert(1, "alice", "Alice Liddell", 2));
        var message = await aliceSocket.ReceiveAsync();
        Assert.Equal(("message", "user.1"), (Frame(message), message.GetProperty("group").GetString()));
        Assert.Equal("user.changed", message.GetProperty("message").GetProperty("type").GetString());
        Assert.Equal("Alice Liddell", message.GetProperty("message").GetProperty("displayName").GetString());

        await replica.ApplyAsync(Upsert(2, "bob", "Bob Builder", 2));
        var bobs = await bobSocket.ReceiveAsync();
        Assert.Equal("Bob Builder", bobs.GetProperty("message").GetProperty("displayName").GetString());   // not alice's change first
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => aliceSocket.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Anonymous_and_wrong_logins_get_no_socket_and_a_deleted_user_loses_theirs()
    {
        await using var replica = await ReplicaTestApp.StartAsync();
        await replica.ApplyAsync(Upsert(1, "alice", "Alice Demo", 1));

        var anonymous = await Assert.ThrowsAsync<ReplicaTestApp.RefusedException>(() => replica.ConnectAsync(null));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);

        // The replica keeps no password hashes: the demo password for replicated users, nothing for anyone else.
        await Assert.ThrowsAsync<InvalidOperationException>(() => replica.LoginAsync("alice", "secret"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => replica.LoginAsync("mallory"));

        var alice = await replica.LoginAsync("alice");
        await using (var socket = await replica.ConnectAsync(alice))
        {
            await socket.JoinAsync("user.1");
            Assert.Equal("joined", Frame(await socket.ReceiveAsync()));
        }

        // Deleted on the master: her cookie no longer opens anything.
        await replica.ApplyAsync(new UserChanged(UserChanged.OpDelete, 1, null, null, null, 2, T0.AddMinutes(2)));
        var deleted = await Assert.ThrowsAsync<ReplicaTestApp.RefusedException>(() => replica.ConnectAsync(alice));
        Assert.Equal(HttpStatusCode.Unauthorized, deleted.Status);
    }

    private static string? Frame(JsonElement frame) => frame.GetProperty("celeriac").GetString();
}
