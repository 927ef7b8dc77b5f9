using CleanEnergy.Replica.Users;
using Celeriac;

namespace CleanEnergy.Replica.Web;

/// <summary>
/// The profile page's WebSocket (<c>/ws/profile</c>, logged-in users only): the personal-room pattern. The page asks to
/// join its user's group <c>user.{id}</c> (celeriac.js <c>groups: ["user.7"]</c>); the consumer allows exactly the
/// group of the logged-in user and refuses every other one, so alice may join alice's group and nothing else. The
/// group's messages (<c>user.changed</c>, sent by <see cref="UserReplication"/>) are forwarded to the page as they are.
/// </summary>
internal sealed class ProfileConsumer : JsonWebSocketConsumer
{
    public override ValueTask<bool> OnJoinRequestAsync(string group) =>
        ValueTask.FromResult(ReplicaAuth.UserId(User) is { } id && group == ProfileGroups.For(id));
}
