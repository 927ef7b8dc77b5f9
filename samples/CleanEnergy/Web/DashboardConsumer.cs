using CleanEnergy.Live;
using Celeriac;

namespace CleanEnergy.Web;

/// <summary>
/// <c>/ws/dashboard</c> (login required): puts the connection in the groups the dashboard shows, <c>dashboard</c>
/// (device states, grid points), <c>time</c> (the server clock) and <c>alerts</c>, and forwards their messages as they
/// are (<see cref="LiveUpdates"/> has their shapes). The page fetches its initial state over HTTP when the socket opens
/// (celeriac.js <c>onOpen</c>); messages that arrive meanwhile wait in the client, and a reconnecting client gets
/// what it missed (<c>celeriac-resume</c>), so nothing falls between the fetch and the stream.
/// Clients cannot join other groups (<see cref="WebSocketConsumer.OnJoinRequestAsync"/> refuses by default).
/// </summary>
internal sealed class DashboardConsumer : JsonWebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync(LiveUpdates.DashboardGroup);
        await AddToGroupAsync(LiveUpdates.TimeGroup);
        await AddToGroupAsync(LiveUpdates.AlertsGroup);
    }
}
