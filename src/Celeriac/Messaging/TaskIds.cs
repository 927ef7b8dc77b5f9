namespace Celeriac.Messaging;

internal static class TaskIds
{
    /// <summary>A new task id: a version 7 GUID (time-ordered, so ids sort roughly by creation).</summary>
    public static string New() => Guid.CreateVersion7().ToString();

    /// <summary>This process, as envelopes name their sender: <c>pid@machine</c>.</summary>
    public static readonly string Origin = $"{Environment.ProcessId}@{Environment.MachineName}";
}

/// <summary>The one size check of everything sent: tasks, events and group messages.</summary>
internal static class MessageSize
{
    /// <summary>The UTF-8 size of <paramref name="body"/>; throws <see cref="MessageTooLargeException"/> (naming <paramref name="what"/>) over <paramref name="maxBytes"/>.</summary>
    public static int Check(string body, string what, int maxBytes)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(body);
        return bytes > maxBytes ? throw new MessageTooLargeException(what, bytes, maxBytes) : bytes;
    }
}
