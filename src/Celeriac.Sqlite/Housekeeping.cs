namespace Celeriac.Sqlite;

/// <summary>
/// A write that keeps a short log small (a prune), queued after every <c>everyCount</c> calls of <see cref="Tick"/> or
/// every <c>everyMs</c> milliseconds, whichever comes first. It is its own write op, so a failing prune never fails the
/// write that triggered it; the next one tries again.
/// </summary>
internal sealed class Housekeeping(SqliteEngine engine, int everyCount, long everyMs, Func<WriterSession, int> work, bool atomic)
{
    private int _since;
    private long _nextMs;

    /// <summary>Counts one write of the log; queues the work when it is due.</summary>
    public void Tick()
    {
        var now = engine.NowMs;
        if (Interlocked.Increment(ref _since) < everyCount && now < Interlocked.Read(ref _nextMs)) return;
        Interlocked.Exchange(ref _since, 0);
        Interlocked.Exchange(ref _nextMs, now + everyMs);
        try
        {
            _ = engine.WriteAsync(static (w, work) => work(w), work, wakesReceivers: false, atomic, CancellationToken.None)
                .ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        catch (ObjectDisposedException)
        {
            // Closing: nothing to prune for.
        }
    }
}
