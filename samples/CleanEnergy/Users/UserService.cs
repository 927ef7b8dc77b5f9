using CleanEnergy.Contracts;
using CleanEnergy.Data;
using Celeriac;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Users;

/// <summary>
/// User accounts; this app is their master. Creating, editing and deleting a user saves the change and, when a
/// replicated field changed (user name, display name, email; not last login, not the password), sends the task
/// <c>users.publish_change</c>, which publishes <c>users.changed</c> from a worker: the request never waits for the
/// event store, and a failing publish is retried by the task, not by the user.
/// <para>
/// Save, then send: if the process dies between the two, that change is not published until the user's next
/// change (whose event carries the whole current state and a higher version). A transactional outbox would close
/// that gap; this sample keeps the two steps and says so. The send carries the idempotency key
/// <c>users.changed:{id}:{version}</c>, so repeating it never publishes one version twice.
/// </para>
/// </summary>
internal sealed class UserService(EnergyDb db, ITaskClient tasks, TimeProvider time)
{
    public const string PublishTask = "users.publish_change";

    private static readonly PasswordHasher<User> Hasher = new();

    public Task<List<User>> ListAsync(CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().OrderBy(u => u.UserName).ToListAsync(cancellationToken);

    public Task<User?> FindAsync(int id, CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, cancellationToken);

    public Task<User?> FindByNameAsync(string userName, CancellationToken cancellationToken = default) =>
        db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.UserName == userName, cancellationToken);

    /// <summary>Creates a user and publishes it (op <c>upsert</c>, version 1).</summary>
    /// <exception cref="ArgumentException">A blank user name or display name, a field longer than its column, or the user name is taken.</exception>
    public async Task<User> CreateAsync(string userName, string displayName, string email, string password, CancellationToken cancellationToken = default)
    {
        userName = Required(userName, User.UserNameMaxLength, nameof(userName));
        if (await db.Users.AnyAsync(u => u.UserName == userName, cancellationToken))
            throw new ArgumentException($"The user name '{userName}' is taken.", nameof(userName));
        var user = new User
        {
            UserName = userName,
            DisplayName = Required(displayName, User.DisplayNameMaxLength, nameof(displayName)),
            Email = Bounded(email?.Trim() ?? "", User.EmailMaxLength, nameof(email)),
            UpdatedAt = time.GetUtcNow().UtcDateTime,
            Version = 1,
        };
        user.PasswordHash = Hasher.HashPassword(user, password);
        db.Users.Add(user);
        await db.SaveChangesAsync(cancellationToken);
        await SendChangeAsync(user.Id, UserChanged.OpUpsert, user.Version, cancellationToken);
        return user;
    }

    /// <summary>
    /// Changes the given fields (null leaves a field as it is). Returns whether a replicated field changed, and so
    /// whether <c>users.changed</c> will be published.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No user has <paramref name="id"/>.</exception>
    /// <exception cref="ArgumentException">A blank user name or display name, or a field longer than its column.</exception>
    /// <exception cref="DbUpdateConcurrencyException">Someone else changed the user meanwhile (its version moved on).</exception>
    public async Task<bool> UpdateAsync(int id, string? userName = null, string? displayName = null, string? email = null, CancellationToken cancellationToken = default)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw new KeyNotFoundException($"No user has id {id}.");
        if (userName is not null) user.UserName = Required(userName, User.UserNameMaxLength, nameof(userName));
        if (displayName is not null) user.DisplayName = Required(displayName, User.DisplayNameMaxLength, nameof(displayName));
        if (email is not null) user.Email = Bounded(email.Trim(), User.EmailMaxLength, nameof(email));
        var entry = db.Entry(user);
        var replicated = entry.Property(u => u.UserName).IsModified && entry.Property(u => u.UserName).OriginalValue != user.UserName
            || entry.Property(u => u.DisplayName).IsModified && entry.Property(u => u.DisplayName).OriginalValue != user.DisplayName
            || entry.Property(u => u.Email).IsModified && entry.Property(u => u.Email).OriginalValue != user.Email;
        if (!replicated) return false;
        user.Version++;
        user.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(cancellationToken);
        await SendChangeAsync(user.Id, UserChanged.OpUpsert, user.Version, cancellationToken);
        return true;
    }

    /// <summary>Sets a new password. Not replicated: publishes nothing.</summary>
    public async Task SetPasswordAsync(int id, string password, CancellationToken cancellationToken = default)
    {
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw new KeyNotFoundException($"No user has id {id}.");
        var hash = Hasher.HashPassword(user, password);
        // Not through the tracked entity: a password is no replicated field, so it neither checks nor moves the version.
        await db.Users.Where(u => u.Id == id).ExecuteUpdateAsync(s => s.SetProperty(u => u.PasswordHash, hash), cancellationToken);
    }

    /// <summary>Records a login (not replicated: publishes nothing).</summary>
    public async Task RecordLoginAsync(int id, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await db.Users.Where(u => u.Id == id).ExecuteUpdateAsync(s => s.SetProperty(u => u.LastLoginAt, now), cancellationToken);
    }

    /// <summary>The user when <paramref name="password"/> is theirs, else null (for the login page).</summary>
    public async Task<User?> VerifyPasswordAsync(string userName, string password, CancellationToken cancellationToken = default)
    {
        var user = await FindByNameAsync(userName, cancellationToken);
        if (user is null) return null;
        return Hasher.VerifyHashedPassword(user, user.PasswordHash, password) == PasswordVerificationResult.Failed ? null : user;
    }

    /// <summary>Deletes a user and publishes op <c>delete</c>. Returns false when there was no such user.</summary>
    public async Task<bool> DeleteAsync(int id, CancellationToken cancellationToken = default)
    {
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, cancellationToken);
        if (user is null) return false;
        var deleted = await db.Users.Where(u => u.Id == id).ExecuteDeleteAsync(cancellationToken);
        if (deleted == 0) return false;
        await SendChangeAsync(id, UserChanged.OpDelete, user.Version + 1, cancellationToken);
        return true;
    }

    /// <summary>Creates a user unless one has that name (seeding); a created one is published like any other.</summary>
    internal async Task<bool> SeedAsync(string userName, string displayName, string email, string password, CancellationToken cancellationToken)
    {
        if (await db.Users.AnyAsync(u => u.UserName == userName, cancellationToken)) return false;
        try
        {
            await CreateAsync(userName, displayName, email, password, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is DbUpdateException or ArgumentException)
        {
            // Another process (web and worker starting together on a fresh database) may have seeded it first.
            db.ChangeTracker.Clear();
            if (await db.Users.AsNoTracking().AnyAsync(u => u.UserName == userName, cancellationToken)) return false;
            throw;
        }
    }

    private ValueTask<TaskHandle> SendChangeAsync(int userId, string op, long version, CancellationToken cancellationToken) =>
        tasks.SendAsync(PublishTask, new { userId, op, version }, o => o.IdempotencyKey = $"users.changed:{userId}:{version}", cancellationToken);

    private static string Required(string value, int maxLength, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"{name} must not be blank.", name) : Bounded(value.Trim(), maxLength, name);

    /// <summary>
    /// Refuses a value longer than its column here, on every database: PostgreSQL would refuse it at the save (a
    /// <see cref="DbUpdateException"/>, which the pages report as a taken user name) and SQLite would store it whole.
    /// </summary>
    private static string Bounded(string value, int maxLength, string name) =>
        value.Length > maxLength ? throw new ArgumentException($"{name} must be at most {maxLength} characters.", name) : value;
}
