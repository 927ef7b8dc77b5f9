using System.Text.Json;
using Celeriac.Messaging;

namespace Celeriac;

/// <summary>Rules shared by channel layers: group names and message checks.</summary>
public static class ChannelGroups
{
    /// <summary>Longest group name.</summary>
    public const int MaxNameLength = 100;

    /// <summary>Whether <paramref name="group"/> is 1–100 ASCII letters, digits, <c>-</c>, <c>_</c> or <c>.</c>.</summary>
    public static bool IsValidName(string? group) =>
        group is { Length: > 0 and <= MaxNameLength } && group.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Throws an <see cref="ArgumentException"/> naming the rule when <paramref name="group"/> is invalid.</summary>
    public static void ValidateName(string group)
    {
        if (!IsValidName(group))
            throw new ArgumentException($"Invalid group name '{group}': use 1 to {MaxNameLength} ASCII letters, digits, '-', '_' and '.'.", nameof(group));
    }

    /// <summary>
    /// Serializes <paramref name="message"/> and checks it: a JSON object with a non-empty string <c>type</c>, at most
    /// <paramref name="maxBytes"/> bytes. Returns the JSON and the type.
    /// </summary>
    public static (JsonElement Message, string Type) Prepare(string group, object message, int maxBytes)
    {
        ValidateName(group);
        ArgumentNullException.ThrowIfNull(message);
        var element = message is JsonElement e ? e.Clone() : JsonSerializer.SerializeToElement(message, message.GetType(), TaskJson.Options);
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() is not { Length: > 0 } name)
            throw new ArgumentException($"A message to group '{group}' must be a JSON object with a string 'type' (e.g. new {{ type = \"chat.message\", text }}).", nameof(message));
        MessageSize.Check(element.GetRawText(), $"group '{group}' (type '{name}')", maxBytes);
        return (element, name);
    }

    /// <summary>
    /// Which of <paramref name="kept"/> (oldest first, consecutive offsets) to replay after <paramref name="afterOffset"/>
    /// given the group's newest offset <paramref name="lastOffset"/>; not complete when some are missing.
    /// </summary>
    public static GroupHistory Slice(IReadOnlyList<GroupMessage> kept, long afterOffset, long lastOffset)
    {
        if (afterOffset > lastOffset || afterOffset < 0) return new GroupHistory([], false, lastOffset);
        if (afterOffset == lastOffset) return new GroupHistory([], true, lastOffset);
        var first = kept.Count > 0 ? kept[0].Offset : lastOffset + 1;
        var complete = first <= afterOffset + 1;
        return new GroupHistory([.. kept.Where(m => m.Offset > afterOffset)], complete, lastOffset);
    }
}
