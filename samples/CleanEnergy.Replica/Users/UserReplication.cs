using CleanEnergy.Contracts;
using CleanEnergy.Replica.Data;
using Celeriac;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Replica.Users;

/// <summary>What applying one <see cref="UserChanged"/> did.</summary>
internal enum ReplicationOutcome
{
    /// <summary>An upsert for a user this replica did not have (or had as deleted, with an older version): created.</summary>
    Created,

    /// <summary>An upsert newer than the stored user: stored.</summary>
    Updated,

    /// <summary>A delete newer than the stored user: the user is gone (a tombstone keeps the version).</summary>
    Deleted,

    /// <summary>A delete of a user this replica does not have: nothing to delete (a tombstone keeps the version).</summary>
    NothingToDelete,

    /// <summary>The stored user already has this version: a redelivery (or a repeat of the same version). Changes nothing.</summary>
    Repeated,

    /// <summary>The stored user has a newer version: this change came late and is ignored.</summary>
    Stale,
}

/// <summary>
/// Applies <c>users.changed</c> to the replica's database and tells the user's open pages.
/// <para>
/// Idempotent and order-proof, because delivery is at least once and retries reorder events: the master's
/// <see cref="UserChanged.Version"/> grows with every change of a user (a delete has the highest), and a change is
/// written only when its version is higher than the stored one, in one conditional statement
/// (<c>INSERT … ON CONFLICT (id) DO UPDATE … WHERE excluded.version &gt; users.version</c>), so two handlers running at
/// once for one user cannot interleave a read and a write. A deleted user is kept as a tombstone with the delete's
/// version, so an older upsert arriving after the delete cannot bring the user back; a delete of a user this replica
/// never had leaves such a tombstone too and changes nothing else.
/// </para>
/// <para>
/// Then the change goes to the user's personal group <c>user.{id}</c> (<see cref="ProfileGroups"/>) as
/// <c>{ type: "user.changed", op, userId, userName, displayName, email, version, updatedAt }</c> — also for a
/// <see cref="ReplicationOutcome.Repeated"/> one, because the delivery that stored it may have died before its push.
/// A stale change and a delete of a missing user push nothing. A failing push fails the handler, so the event is
/// retried: the write is then <see cref="ReplicationOutcome.Repeated"/> and only the push is done again.
/// </para>
/// </summary>
internal sealed partial class UserReplication(ReplicaDb db, IChannelLayer channels, TimeProvider time, ILogger<UserReplication> logger)
{
    /// <summary>The durable subscription's name: its queue in the shared store is <c>events:replica</c>.</summary>
    public const string DurableName = "replica";

    /// <summary>The type of the group message sent to <c>user.{id}</c>.</summary>
    public const string MessageType = "user.changed";

    /// <summary>The durable subscription's handler: <see cref="ApplyAsync"/>, then the push to the user's group.</summary>
    public async Task<ReplicationOutcome> HandleAsync(UserChanged change, EventContext? context, CancellationToken cancellationToken)
    {
        var outcome = await ApplyAsync(change, cancellationToken);
        LogApplied(change.Op, change.UserId, change.Version, outcome, context?.DeliveryCount ?? 1);
        if (outcome is ReplicationOutcome.Stale or ReplicationOutcome.NothingToDelete) return outcome;
        await channels.GroupSendAsync(ProfileGroups.For(change.UserId), new
        {
            type = MessageType,
            op = change.Op,
            userId = change.UserId,
            userName = change.UserName,
            displayName = change.DisplayName,
            email = change.Email,
            version = change.Version,
            updatedAt = change.UpdatedAt,
        }, cancellationToken);
        return outcome;
    }

    /// <summary>Stores <paramref name="change"/> when it is newer than what is stored; see the class summary.</summary>
    /// <exception cref="ArgumentException">An unknown op, or an upsert without a user name or display name.</exception>
    public async Task<ReplicationOutcome> ApplyAsync(UserChanged change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        var isDelete = change.Op switch
        {
            UserChanged.OpUpsert => false,
            UserChanged.OpDelete => true,
            _ => throw new ArgumentException($"op must be '{UserChanged.OpUpsert}' or '{UserChanged.OpDelete}', not '{change.Op}'.", nameof(change)),
        };
        if (!isDelete && (string.IsNullOrWhiteSpace(change.UserName) || string.IsNullOrWhiteSpace(change.DisplayName)))
            throw new ArgumentException($"An upsert of user {change.UserId} needs a user name and a display name.", nameof(change));

        // Read first only to name the outcome; the write below decides on its own, atomically.
        var before = await FindAnyAsync(change.UserId, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var updatedAt = change.UpdatedAt.UtcDateTime;
        var written = isDelete
            ? await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO users (id, user_name, display_name, email, version, updated_at, deleted_at, replicated_at)
                VALUES ({change.UserId}, '', '', '', {change.Version}, {updatedAt}, {updatedAt}, {now})
                ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
                    deleted_at = excluded.deleted_at, replicated_at = excluded.replicated_at
                WHERE excluded.version > users.version
                """, cancellationToken)
            : await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO users (id, user_name, display_name, email, version, updated_at, deleted_at, replicated_at)
                VALUES ({change.UserId}, {change.UserName!.Trim()}, {change.DisplayName!.Trim()}, {change.Email?.Trim() ?? ""},
                        {change.Version}, {updatedAt}, NULL, {now})
                ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, display_name = excluded.display_name,
                    email = excluded.email, version = excluded.version, updated_at = excluded.updated_at,
                    deleted_at = NULL, replicated_at = excluded.replicated_at
                WHERE excluded.version > users.version
                """, cancellationToken);
        if (written == 0)
        {
            var stored = await FindAnyAsync(change.UserId, cancellationToken);
            return stored is not null && stored.Version == change.Version ? ReplicationOutcome.Repeated : ReplicationOutcome.Stale;
        }
        var existed = before is { IsDeleted: false };
        return isDelete
            ? existed ? ReplicationOutcome.Deleted : ReplicationOutcome.NothingToDelete
            : existed ? ReplicationOutcome.Updated : ReplicationOutcome.Created;
    }

    /// <summary>The user with the master's id <paramref name="userId"/>, unless missing or deleted.</summary>
    public Task<ReplicaUser?> FindAsync(int userId, CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId && u.DeletedAt == null, cancellationToken);

    /// <summary>The live user called <paramref name="userName"/> (the newest version if two hold it for a moment).</summary>
    public Task<ReplicaUser?> FindByNameAsync(string userName, CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().Where(u => u.UserName == userName && u.DeletedAt == null)
            .OrderByDescending(u => u.UpdatedAt).FirstOrDefaultAsync(cancellationToken);

    /// <summary>The live users, by user name.</summary>
    public Task<List<ReplicaUser>> ListAsync(CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().Where(u => u.DeletedAt == null).OrderBy(u => u.UserName).ToListAsync(cancellationToken);

    /// <summary>The row for <paramref name="userId"/>, tombstones included.</summary>
    public Task<ReplicaUser?> FindAnyAsync(int userId, CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId, cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "users.changed {Op} user {UserId} version {Version}: {Outcome} (delivery {Delivery})")]
    private partial void LogApplied(string op, int userId, long version, ReplicationOutcome outcome, int delivery);
}
