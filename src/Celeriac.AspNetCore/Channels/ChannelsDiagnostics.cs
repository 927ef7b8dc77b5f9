using System.Diagnostics.Metrics;

namespace Celeriac.AspNetCore.Channels;

/// <summary>WebSocket instruments on the <c>Celeriac</c> meter.</summary>
internal static class ChannelsDiagnostics
{
    public static readonly UpDownCounter<long> Connections = CeleriacDiagnostics.Meter.CreateUpDownCounter<long>(
        "celeriac.channels.connections", "{connection}", "Open WebSocket consumer connections in this process.");

    public static readonly Counter<long> FramesSent = CeleriacDiagnostics.Meter.CreateCounter<long>(
        "celeriac.channels.frames.sent", "{frame}", "Frames written to WebSocket connections.");

    public static readonly Counter<long> FramesDropped = CeleriacDiagnostics.Meter.CreateCounter<long>(
        "celeriac.channels.frames.dropped", "{frame}", "Frames dropped because a connection's send queue was full (policy DropOldest).");
}
