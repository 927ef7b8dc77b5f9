using CleanEnergy.Contracts;
using CleanEnergy.Data;
using Celeriac;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Users;

/// <summary>The user replication task.</summary>
internal static partial class UserTasks
{
    /// <summary>
    /// <c>users.publish_change(userId, op, version)</c>: publishes <c>users.changed</c>. An upsert publishes the user's
    /// current fields as stored now (and their current version, which may be newer than <paramref name="version"/>
    /// when edits came fast: a replica keeps the newest); when the user was deleted meanwhile, the delete's own task
    /// speaks for it and this one publishes nothing. A delete carries only the id and the version.
    /// Returns whether it published.
    /// </summary>
    public static async Task<bool> PublishChangeAsync(int userId, string op, long version, EnergyDb db, IEventBus events, TimeProvider time, ILoggerFactory loggers, TaskContext context)
    {
        var ct = context.CancellationToken;
        UserChanged change;
        if (op == UserChanged.OpDelete)
        {
            change = new UserChanged(UserChanged.OpDelete, userId, null, null, null, version, time.GetUtcNow());
        }
        else if (op == UserChanged.OpUpsert)
        {
            var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId, ct);
            if (user is null) return false;
            change = UpsertOf(user);
        }
        else
        {
            throw new ArgumentException($"op must be '{UserChanged.OpUpsert}' or '{UserChanged.OpDelete}', not '{op}'.", nameof(op));
        }
        await events.PublishAsync(UserChanged.Subject, change, ct);
        LogPublished(loggers.CreateLogger("CleanEnergy.Users"), change.Op, change.UserId, change.Version);
        return true;
    }

    /// <summary>
    /// <c>users.republish_all</c>: publishes an upsert of every user as stored now (a replica that started after the
    /// users were made asks for it). Returns how many it published.
    /// </summary>
    public static async Task<int> RepublishAllAsync(EnergyDb db, IEventBus events, ILoggerFactory loggers, TaskContext context)
    {
        var ct = context.CancellationToken;
        var users = await db.Users.AsNoTracking().OrderBy(u => u.Id).ToListAsync(ct);
        foreach (var user in users)
        {
            await events.PublishAsync(UserChanged.Subject, UpsertOf(user), ct);
        }
        LogRepublished(loggers.CreateLogger("CleanEnergy.Users"), users.Count);
        return users.Count;
    }

    private static UserChanged UpsertOf(User user) =>
        new(UserChanged.OpUpsert, user.Id, user.UserName, user.DisplayName, user.Email, user.Version, new DateTimeOffset(user.UpdatedAt, TimeSpan.Zero));

    [LoggerMessage(Level = LogLevel.Information, Message = "Republished users.changed for all {Count} user(s)")]
    private static partial void LogRepublished(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Published users.changed: {Op} user {UserId} version {Version}")]
    private static partial void LogPublished(ILogger logger, string op, int userId, long version);
}
