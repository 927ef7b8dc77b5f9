namespace Celeriac.Transport;

/// <summary>
/// A queue cannot be read or written because its storage is damaged (in Redis, one of its keys holds another type;
/// another program or a hand edit under the same prefix). Thrown before the store changed anything, so the call can
/// be repeated once the damage is repaired. A worker that gets it sets the queue aside, consumes its other queues and
/// tries the queue again now and then.
/// </summary>
public sealed class QueueFaultException : Exception
{
    /// <summary>Creates the exception for <paramref name="queue"/>, with what is wrong with it.</summary>
    public QueueFaultException(string queue, string cause)
        : base($"Queue '{queue}' cannot be used: {cause}")
    {
        Queue = queue;
        Cause = cause;
    }

    /// <summary>The queue that cannot be used.</summary>
    public string Queue { get; }

    /// <summary>What is wrong with its storage.</summary>
    public string Cause { get; }
}
