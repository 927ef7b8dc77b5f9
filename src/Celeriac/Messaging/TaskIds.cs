namespace Celeriac.Messaging;

internal static class TaskIds
{
    /// <summary>A new task id: a version 7 GUID (time-ordered, so ids sort roughly by creation).</summary>
    public static string New() => Guid.CreateVersion7().ToString();
}
