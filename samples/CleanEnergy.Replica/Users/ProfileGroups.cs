using System.Globalization;

namespace CleanEnergy.Replica.Users;

/// <summary>
/// The personal WebSocket group of a user: <c>user.{id}</c>, by the master's user id. The id, not the user name,
/// because the user name is one of the replicated fields: a rename would move the group from under an open page (and
/// a name freed by one user and taken by another would hand the new owner the old one's messages). Only the logged-in
/// user may join their own group (<see cref="Web.ProfileConsumer"/>).
/// </summary>
internal static class ProfileGroups
{
    public static string For(int userId) => "user." + userId.ToString(CultureInfo.InvariantCulture);
}
