namespace CleanEnergy.VendorCloud.Trouble;

/// <summary>The most recent API calls, oldest first, bounded to a capacity; counts every call since start.</summary>
internal sealed class CallLog(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Queue<CallRecord> _calls = new();
    private long _total;

    public void Add(CallRecord call)
    {
        lock (_gate)
        {
            _calls.Enqueue(call);
            _total++;
            while (_calls.Count > capacity)
                _calls.Dequeue();
        }
    }

    /// <summary>The total since start (or the last clear) and the kept calls, the newest <paramref name="limit"/> when given.</summary>
    public (long Total, CallRecord[] Calls) Snapshot(int? limit = null)
    {
        lock (_gate)
        {
            var skip = limit is int n && n < _calls.Count ? _calls.Count - n : 0;
            return (_total, [.. _calls.Skip(skip)]);
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _calls.Clear();
            _total = 0;
        }
    }
}
