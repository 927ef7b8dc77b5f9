using System.Text.Json;
using Celeriac.Messaging;

namespace Celeriac;

/// <summary>An event as a listener receives it.</summary>
public sealed class EventMessage
{
    internal EventMessage(string id, string subject, DateTimeOffset publishedAt, JsonElement? args)
    {
        Id = id; Subject = subject; PublishedAt = publishedAt; Args = args;
        Payload = args is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() > 0 ? a[0] : default;
    }

    /// <summary>The envelope's <c>args</c> (the payload as its one item), bound as they come by subscription handlers.</summary>
    internal JsonElement? Args { get; }

    /// <summary>The W3C <c>traceparent</c> of the span that published it, when there was one.</summary>
    internal string? TraceParent { get; init; }

    /// <summary>Event id.</summary>
    public string Id { get; }
    /// <summary>The subject it was published on.</summary>
    public string Subject { get; }
    /// <summary>When it was published (the publisher's clock).</summary>
    public DateTimeOffset PublishedAt { get; }
    /// <summary>The payload as JSON (<see cref="JsonValueKind.Null"/> when there was none).</summary>
    public JsonElement Payload { get; }

    /// <summary>The payload read as <typeparamref name="T"/> (web JSON defaults: camelCase, case-insensitive).</summary>
    public T? GetPayload<T>() => Payload.Deserialize<T>(TaskJson.Options);
}

/// <summary>What a publish did.</summary>
/// <param name="Id">The event id.</param>
/// <param name="Subscriptions">The durable subscriptions it was queued for (ephemeral listeners are not counted).</param>
public sealed record PublishReceipt(string Id, IReadOnlyList<string> Subscriptions);
