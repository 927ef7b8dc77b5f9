namespace Celeriac;

/// <summary>Settings shared by senders and workers. Bound from the <c>Celeriac</c> configuration section.</summary>
public sealed class CeleriacOptions
{
    /// <summary>Queue for tasks that name none. Default <c>default</c>.</summary>
    public string DefaultQueue { get; set; } = "default";

    /// <summary>A message over this size is logged with a warning when sent. Default 64 KiB.</summary>
    public int WarnMessageBytes { get; set; } = 64 * 1024;

    /// <summary>A message over this size is refused when sent and dead-lettered when received. Default 1 MiB.</summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>How long results are kept. Default one day.</summary>
    public TimeSpan ResultExpiry { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long an idempotency key is held when the send names no window. Default one hour.</summary>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Worker settings. Bound from the <c>Celeriac:Worker</c> configuration section; the <c>worker</c> command overrides them.</summary>
public sealed class WorkerOptions
{
    /// <summary>Queues to consume, all at once, by message priority then age. Default <c>default</c>.</summary>
    public IList<string> Queues { get; set; } = ["default"];

    /// <summary>Tasks run at once. Default 8.</summary>
    public int Concurrency { get; set; } = 8;

    /// <summary>Messages leased ahead of free slots, so a slot never waits for a fetch. Default 8.</summary>
    public int Prefetch { get; set; } = 8;

    /// <summary>How long a received message stays hidden from other workers; renewed every third of it while the task runs. Default 30 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest a fetch waits for new messages before it asks again. Default 1 s.</summary>
    public TimeSpan FetchWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>On stop, how long in-flight tasks may finish before they are cancelled and released. Default 20 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Whether STARTED is stored when a task begins (one more write per task). Default false.</summary>
    public bool TrackStarted { get; set; }

    /// <summary>
    /// How often a queue set aside because its storage is damaged (<see cref="Transport.QueueFaultException"/>) is
    /// tried again, while the worker consumes its other queues. Default 30 s.
    /// </summary>
    public TimeSpan QueueRetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The fetch loop's watchdog: a receive that has not returned <see cref="FetchWait"/> plus this long (a stuck
    /// connection) is abandoned with an error log, the worker reports itself unhealthy, and it receives again on a
    /// new call (what the abandoned call leases later is released). <see cref="TimeSpan.Zero"/> turns it off. Default 30 s.
    /// </summary>
    public TimeSpan WatchdogTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
