namespace CleanEnergy.Contracts;

/// <summary>
/// Published on <see cref="Subject"/> (<c>users.changed</c>) by the master app (CleanEnergy) after a user's replicated
/// fields changed (user name, display name, email) or the user was deleted. Last login and password hash are not
/// replicated and never cause an event.
/// <para>
/// Delivery is at least once and, with several consumers, not ordered: apply an <see cref="OpUpsert"/> only when its
/// <see cref="Version"/> is newer than the one stored (an upsert for a missing user creates it); a
/// <see cref="OpDelete"/> of a missing user is a no-op.
/// </para>
/// </summary>
/// <param name="Op"><see cref="OpUpsert"/> or <see cref="OpDelete"/>.</param>
/// <param name="UserId">The user's id in the master app (stable; the replica's key).</param>
/// <param name="UserName">Login name; <see langword="null"/> on delete.</param>
/// <param name="DisplayName">Name shown on pages; <see langword="null"/> on delete.</param>
/// <param name="Email">E-mail address; <see langword="null"/> on delete.</param>
/// <param name="Version">Increases with every replicated change of this user (the delete has the highest).</param>
/// <param name="UpdatedAt">When the master made the change (UTC).</param>
public sealed record UserChanged(string Op, int UserId, string? UserName, string? DisplayName, string? Email, long Version, DateTimeOffset UpdatedAt)
{
    /// <summary>The subject the change is published on.</summary>
    public const string Subject = "users.changed";

    /// <summary>The user exists with these fields (created or edited).</summary>
    public const string OpUpsert = "upsert";

    /// <summary>The user was deleted.</summary>
    public const string OpDelete = "delete";

    /// <summary>Longest <see cref="UserName"/>, <see cref="DisplayName"/> and <see cref="Email"/> the master stores, so a replica's columns can hold them.</summary>
    public const int UserNameMaxLength = 100, DisplayNameMaxLength = 200, EmailMaxLength = 200;

    /// <summary>
    /// The master's task that publishes an upsert for every user as stored now. A replica sends it once its durable
    /// subscription exists, so users created before the replica first started reach it too (versions make repeats harmless).
    /// </summary>
    public const string RepublishAllTask = "users.republish_all";
}
