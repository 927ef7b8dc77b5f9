namespace Celeriac.Redis;

/// <summary>
/// Natural batching: callers add items; while one batch is on its way to the server, the next callers' items gather,
/// and go together in the next batch as soon as the first returns. A lone call goes out at once (no timer, no added
/// delay); under load one script call carries many items, which saves the server most of its per-call cost.
/// <para>
/// A flush that has not returned after <paramref name="timeout"/> fails its callers with a <see cref="TimeoutException"/>
/// and the next batch goes out: every later caller waits behind the batch on its way, so one call that never returned
/// (a connection lost at the wrong moment) would otherwise hold them all, and a worker's every ack, for ever. The
/// timeout runs on real time (<see cref="TimeProvider.System"/> from the stores): it waits for a socket, not for the
/// application's clock.
/// </para>
/// </summary>
internal sealed class Batcher<TItem, TResult>(Func<IReadOnlyList<TItem>, Task<TResult[]>> flush, int maxBatch, TimeSpan timeout, TimeProvider time)
{
    private readonly Lock _gate = new();
    private List<(TItem Item, TaskCompletionSource<TResult> Done)> _pending = [];
    private bool _flushing;

    public Task<TResult> AddAsync(TItem item)
    {
        var done = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_gate)
        {
            _pending.Add((item, done));
            start = !_flushing;
            _flushing = true;
        }
        if (start) _ = FlushLoopAsync();
        return done.Task;
    }

    private async Task FlushLoopAsync()
    {
        while (true)
        {
            List<(TItem Item, TaskCompletionSource<TResult> Done)> batch;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _flushing = false;
                    return;
                }
                if (_pending.Count <= maxBatch)
                {
                    batch = _pending;
                    _pending = [];
                }
                else
                {
                    batch = _pending.GetRange(0, maxBatch);
                    _pending.RemoveRange(0, maxBatch);
                }
            }
            Task<TResult[]>? call = null;
            try
            {
                var items = new TItem[batch.Count];
                for (var i = 0; i < items.Length; i++) items[i] = batch[i].Item;
                call = flush(items);
                var results = await call.WaitAsync(timeout, time).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(results[i]);
            }
            catch (Exception e)
            {
                // A call given up on may still fail later: observe it so that is not an unobserved exception.
                if (call is { IsCompleted: false })
                    _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                foreach (var (_, done) in batch) done.TrySetException(e);
            }
        }
    }
}
