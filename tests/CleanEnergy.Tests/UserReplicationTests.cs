using Microsoft.EntityFrameworkCore;
using CleanEnergy.Contracts;
using CleanEnergy.Users;

namespace CleanEnergy.Tests;

/// <summary>Runs on SQLite and on PostgreSQL: see <see cref="EnergyDatabaseTests"/>.</summary>
public abstract class UserReplicationTests(PostgresServer? postgres) : EnergyDatabaseTests(postgres)
{
    [Fact]
    public async Task Only_changes_to_replicated_fields_publish_users_changed()
    {
        await using var app = await StartAppAsync();
        await using var events = await EventRecorder.StartAsync(app.Events, UserChanged.Subject);
        // Version 1 is the seeding. An upsert publishes the user as stored when its task runs, so the seeding's task, if it
        // runs after an edit, repeats the edit's version: replicas keep the newest version, repeats are harmless.
        List<UserChanged> Changes() => [.. events.Events.Select(e => e.GetPayload<UserChanged>()!).Where(c => c.Version > 1).DistinctBy(c => (c.UserId, c.Version, c.Op))];
        var alice = (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindByNameAsync("alice")))!;
        var bob = (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindByNameAsync("bob")))!;

        // A display name edit: upsert with the new name and the next version.
        Assert.True(await app.WithServiceAsync<UserService, bool>(s => s.UpdateAsync(alice.Id, displayName: "Alice Liddell")));
        await events.WaitForAsync(_ => Changes().Count >= 1);
        var renamed = Changes().Single();
        Assert.Equal(new UserChanged(UserChanged.OpUpsert, alice.Id, "alice", "Alice Liddell", "alice@example.com", 2, renamed.UpdatedAt), renamed);

        // A login, a password change and an edit that changes nothing publish nothing.
        await app.WithServiceAsync<UserService, bool>(async s => { await s.RecordLoginAsync(alice.Id); return true; });
        await app.WithServiceAsync<UserService, bool>(async s => { await s.SetPasswordAsync(alice.Id, "new secret"); return true; });
        Assert.False(await app.WithServiceAsync<UserService, bool>(s => s.UpdateAsync(alice.Id, displayName: "Alice Liddell", email: "alice@example.com")));
        Assert.NotNull((await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindAsync(alice.Id)))!.LastLoginAt);

        // Then bob's email changes: his event comes, and no other of alice's came before it.
        Assert.True(await app.WithServiceAsync<UserService, bool>(s => s.UpdateAsync(bob.Id, email: "robert@example.com")));
        await events.WaitForAsync(_ => Changes().Any(c => c.UserId == bob.Id));
        await Task.Delay(300);
        Assert.Single(Changes(), c => c.UserId == alice.Id);
        Assert.Equal("robert@example.com", Changes().Single(c => c.UserId == bob.Id).Email);

        // A delete: op delete, with a version above the last upsert.
        Assert.True(await app.WithServiceAsync<UserService, bool>(s => s.DeleteAsync(bob.Id)));
        await events.WaitForAsync(_ => Changes().Any(c => c.Op == UserChanged.OpDelete));
        var deleted = Changes().Single(c => c.Op == UserChanged.OpDelete);
        Assert.Equal((bob.Id, 3L, (string?)null), (deleted.UserId, deleted.Version, deleted.UserName));
        Assert.False(await app.WithServiceAsync<UserService, bool>(s => s.DeleteAsync(bob.Id)));

        // A new user is published as version 1.
        var carol = await app.WithServiceAsync<UserService, CleanEnergy.Data.User>(s => s.CreateAsync("carol", "Carol", "carol@example.com", "pw"));
        await events.WaitForAsync(e => e.Any(x => x.GetPayload<UserChanged>()!.UserId == carol.Id));
        await Assert.ThrowsAsync<ArgumentException>(() => app.WithServiceAsync<UserService, CleanEnergy.Data.User>(s => s.CreateAsync("carol", "Carol 2", "", "pw")));
    }

    [Fact]
    public async Task Two_edits_of_one_user_at_once_cannot_both_take_the_next_version()
    {
        await using var app = await StartAppAsync();
        var alice = (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindByNameAsync("alice")))!;
        var (scope, db) = app.Db();
        await using (scope)
        {
            var stale = await db.Users.FirstAsync(u => u.Id == alice.Id);                        // read before the other edit
            Assert.True(await app.WithServiceAsync<UserService, bool>(s => s.UpdateAsync(alice.Id, displayName: "First")));
            stale.DisplayName = "Second";
            stale.Version++;                                                                     // as UpdateAsync does
            await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => db.SaveChangesAsync());
        }

        // A password change neither checks nor moves the version.
        await app.WithServiceAsync<UserService, bool>(async s => { await s.SetPasswordAsync(alice.Id, "new secret"); return true; });
        var stored = (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindAsync(alice.Id)))!;
        Assert.Equal(("First", alice.Version + 1), (stored.DisplayName, stored.Version));
        Assert.NotNull(await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.VerifyPasswordAsync("alice", "new secret")));
    }

    [Fact]
    public async Task A_field_longer_than_its_column_is_refused_as_invalid_and_nothing_is_stored()
    {
        await using var app = await StartAppAsync();
        var alice = (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindByNameAsync("alice")))!;
        var longName = new string('x', 201);
        var create = await Assert.ThrowsAsync<ArgumentException>(() => app.WithServiceAsync<UserService, CleanEnergy.Data.User>(s => s.CreateAsync("carol", longName, "", "pw")));
        Assert.Equal("displayName", create.ParamName);
        await Assert.ThrowsAsync<ArgumentException>(() => app.WithServiceAsync<UserService, CleanEnergy.Data.User>(s => s.CreateAsync(new string('c', 101), "Carol", "", "pw")));
        await Assert.ThrowsAsync<ArgumentException>(() => app.WithServiceAsync<UserService, bool>(s => s.UpdateAsync(alice.Id, email: new string('e', 190) + "@example.com")));
        Assert.Null(await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindByNameAsync("carol")));
        Assert.Equal("alice@example.com", (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindAsync(alice.Id)))!.Email);

        // At the limit it is stored as given, on every database.
        var carol = await app.WithServiceAsync<UserService, CleanEnergy.Data.User>(s => s.CreateAsync("carol", new string('y', 200), "", "pw"));
        Assert.Equal(200, (await app.WithServiceAsync<UserService, CleanEnergy.Data.User?>(s => s.FindAsync(carol.Id)))!.DisplayName.Length);
    }

    [Fact]
    public async Task Republish_all_publishes_every_user_as_stored_now()
    {
        await using var app = await StartAppAsync();
        await using var events = await EventRecorder.StartAsync(app.Events, UserChanged.Subject);
        var run = await app.Tasks.SendAsync(UserChanged.RepublishAllTask);
        Assert.Equal(2, await run.GetAsync<int>(TimeSpan.FromSeconds(30)));
        await events.WaitForAsync(e => e.Select(x => x.GetPayload<UserChanged>()!.UserName).Distinct().Count() >= 2);
        var names = events.Events.Select(e => e.GetPayload<UserChanged>()!).Where(c => c.Op == UserChanged.OpUpsert).Select(c => c.UserName).Distinct().Order();
        Assert.Equal(["alice", "bob"], names);
    }
}
