using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Celeriac.AspNetCore.Channels;

/// <summary>
/// The frames of the wire protocol (docs/channels.md): JSON objects with a string <c>celeriac</c> property, written as
/// UTF-8 once and shared by every connection that sends them.
/// </summary>
internal static class ProtocolFrames
{
    public const string Property = "celeriac";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    // The tail of a `message` frame is written once per group message, whatever the number of members forwarding it;
    // each connection puts its own head (with its `prev`) in front.
    private static readonly ConditionalWeakTable<GroupMessage, byte[]> MessageTails = [];

    /// <summary>
    /// <c>{"celeriac":"message","prev":41,"group":…,"offset":42,"message":{…}}</c>, where <c>prev</c> is the offset of
    /// the previous message of that group forwarded to this connection (or the offset it joined at): the client sees a
    /// gap only when <c>prev</c> is above the last offset it has, so a handler that forwards some messages only makes none.
    /// </summary>
    public static byte[] Message(GroupMessage message, long prev)
    {
        var tail = MessageTails.GetValue(message, static m =>
        {
            var whole = Write(m, static (w, m) =>
            {
                w.WriteString("group", m.Group);
                w.WriteNumber("offset", m.Offset);
                w.WritePropertyName("message");
                m.Message.WriteTo(w);
            });
            return whole[1..]; // without the opening brace
        });
        Span<byte> head = stackalloc byte[64];
        var written = System.Text.Encoding.UTF8.GetBytes($"{{\"celeriac\":\"message\",\"prev\":{prev},", head);
        var frame = new byte[written + tail.Length];
        head[..written].CopyTo(frame);
        tail.CopyTo(frame.AsSpan(written));
        return frame;
    }

    public static byte[] Joined(string group, long offset) => GroupOffset("joined", group, offset);

    public static byte[] Reload(string group, long offset) => GroupOffset("reload", group, offset);

    public static byte[] Left(string group) => Write(group, static (w, g) =>
    {
        w.WriteString(Property, "left");
        w.WriteString("group", g);
    });

    public static byte[] Refused(string group, string reason) => Write((group, reason), static (w, s) =>
    {
        w.WriteString(Property, "refused");
        w.WriteString("group", s.group);
        w.WriteString("reason", s.reason);
    });

    public static byte[] Dropped(long count) => Write(count, static (w, n) =>
    {
        w.WriteString(Property, "dropped");
        w.WriteNumber("count", n);
    });

    public static byte[] Error(string reason) => Write(reason, static (w, r) =>
    {
        w.WriteString(Property, "error");
        w.WriteString("reason", r);
    });

    private static byte[] GroupOffset(string kind, string group, long offset) => Write((kind, group, offset), static (w, s) =>
    {
        w.WriteString(Property, s.kind);
        w.WriteString("group", s.group);
        w.WriteNumber("offset", s.offset);
    });

    private static byte[] Write<T>(T state, Action<Utf8JsonWriter, T> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            body(writer, state);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Whether <paramref name="text"/> may be a protocol frame: a JSON object naming the <c>celeriac</c> property
    /// (or with escapes, which could spell it). A cheap test so that most application frames are not parsed.
    /// </summary>
    public static bool MayBeProtocol(string text)
    {
        var span = text.AsSpan().TrimStart();
        return span.Length > 0 && span[0] == '{' && (span.Contains("\"celeriac\"", StringComparison.Ordinal) || span.Contains('\\'));
    }

    /// <summary>
    /// The frame's kind when <paramref name="root"/> is an object with a <c>celeriac</c> property (empty when that is not
    /// a string); null for application frames.
    /// </summary>
    public static string? KindOf(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(Property, out var kind)
            ? kind.ValueKind == JsonValueKind.String ? kind.GetString() ?? "" : ""
            : null;
}
