using System.Text.RegularExpressions;

namespace CleanEnergy.Web;

/// <summary>
/// Chat room names. A room is the WebSocket group <c>chat.{room}</c>; group names allow ASCII letters, digits, '-',
/// '_' and '.', up to 100 characters. Rooms are stricter, so that a room reads the same in a URL and in a group name:
/// 1 to 64 lower-case letters, digits, '-' and '_' (no '.', which would make <c>/chat/..</c> a room).
/// </summary>
internal static partial class ChatRooms
{
    /// <summary>The room the navigation links to.</summary>
    public const string Default = "lobby";

    /// <summary>The type of a chat message in the room's group (and on the wire).</summary>
    public const string MessageType = "chat.message";

    /// <summary>The longest message text, in characters.</summary>
    public const int MaxTextLength = 1000;

    public static bool IsValid(string? room) => room is not null && RoomName().IsMatch(room);

    public static string GroupOf(string room) => IsValid(room)
        ? $"chat.{room}"
        : throw new ArgumentException($"Invalid room '{room}': use 1 to 64 lower-case letters, digits, '-' and '_'.", nameof(room));

    [GeneratedRegex("^[a-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex RoomName();
}
