namespace Celeriac.Redis;

/// <summary>
/// Natural batching: callers add items; while one batch is on its way to the server, the next callers' items gather,
/// and go together in the next batch as soon as the first returns. A lone call goes out at once (no timer, no added
/// delay); under load one script call carries many items, which saves the server most of its per-call cost.
/// </summary>
internal sealed class Batcher<TItem, TResult>(Func<IReadOnlyList<TItem>, Task<TResult[]>> flush, int maxBatch)
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
            try
            {
                var items = new TItem[batch.Count];
                for (var i = 0; i < items.Length; i++) items[i] = batch[i].Item;
                var results = await flush(items).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(results[i]);
            }
            catch (Exception e)
            {
                foreach (var (_, done) in batch) done.TrySetException(e);
            }
        }
    }
}
