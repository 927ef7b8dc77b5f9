using System.Net.WebSockets;
using System.Text.Json;
using Celeriac.Messaging;

namespace Celeriac;

/// <summary>
/// A <see cref="WebSocketConsumer"/> whose text frames are JSON: each one arrives parsed in
/// <see cref="OnReceiveJsonAsync"/>. A frame that is not valid JSON is logged as a warning and answered with
/// <c>{"celeriac":"error","reason":"…"}</c>; the connection stays open.
/// </summary>
public abstract class JsonWebSocketConsumer : WebSocketConsumer
{
    /// <summary>A JSON frame from the client (protocol frames excluded). The default ignores it.</summary>
    /// <param name="message">The parsed frame; the consumer may keep it.</param>
    public virtual ValueTask OnReceiveJsonAsync(JsonElement message) => ValueTask.CompletedTask;

    /// <summary>Parses <paramref name="text"/> and calls <see cref="OnReceiveJsonAsync"/>; text frames from the client take this path.</summary>
    /// <param name="text">A JSON document.</param>
    /// <exception cref="JsonException"><paramref name="text"/> is not JSON.</exception>
    public sealed override ValueTask OnReceiveAsync(string text) => OnReceiveJsonAsync(JsonSerializer.Deserialize<JsonElement>(text));

    /// <summary>Queues <paramref name="message"/> as a JSON text frame (web defaults: camelCase names).</summary>
    /// <param name="message">Any serializable object.</param>
    public ValueTask SendJsonAsync(object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Connection.Send(JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), TaskJson.Options), WebSocketMessageType.Text);
        return ValueTask.CompletedTask;
    }
}
