namespace Celeriac.Sqlite;

/// <summary>
/// The change monitor: notices commits made by other processes (or other engines on the same file) so that waiting
/// receives, result waits, event listeners and the channel feed in this process wake. While at least one caller waits, it asks the
/// writer connection for <c>PRAGMA data_version</c> every <see cref="SqliteOptions.PollInterval"/>; that number changes
/// when another connection commits, never for this process's own commits (those wake waiters directly). When nobody waits it
/// sleeps on a signal and costs nothing.
/// </summary>
internal sealed partial class SqliteEngine
{
    private int _waiters;
    private TaskCompletionSource _someoneWaits = NewSignal();

    /// <summary>Marks one more result wait, so the monitor watches for other processes' commits.</summary>
    public void EnterResultWait() => EnterWait();

    public void ExitResultWait() => ExitWait();

    /// <summary>Marks one more live event listener, so the monitor watches for other processes' publishes.</summary>
    public void EnterEventWait() => EnterWait();

    public void ExitEventWait() => ExitWait();

    /// <summary>Marks the channel feed as running, so the monitor watches for other processes' group sends.</summary>
    public void EnterGroupWait() => EnterWait();

    public void ExitGroupWait() => ExitWait();

    private void EnterWait()
    {
        if (Interlocked.Increment(ref _waiters) == 1)
            Interlocked.Exchange(ref _someoneWaits, NewSignal()).TrySetResult();
    }

    private void ExitWait() => Interlocked.Decrement(ref _waiters);

    private async Task MonitorLoopAsync()
    {
        var stop = _stop.Token;
        long? last = null;
        while (!stop.IsCancellationRequested)
        {
            var someoneWaits = Volatile.Read(ref _someoneWaits).Task;
            if (Volatile.Read(ref _waiters) == 0)
            {
                // Commits made while nobody watched are unknown: the first check after this wakes everyone once.
                last = null;
                await someoneWaits.WaitAsync(stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            await Task.Delay(_options.PollInterval, _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (stop.IsCancellationRequested) return;
            long version;
            try
            {
                version = await ProbeAsync(static w => w.DataVersion()).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception e)
            {
                LogMonitorFailed(e, Path);
                last = null;
                continue;
            }
            if (last != version)
            {
                PulseMessages();
                PulseEvents();
                PulseGroups();
                ResultWaiters.CompleteAll();
            }
            last = version;
        }
    }
}
