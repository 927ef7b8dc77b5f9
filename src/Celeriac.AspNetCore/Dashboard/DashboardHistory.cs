using System.Diagnostics.Metrics;
using Celeriac.Transport;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>
/// The last hour of this process's task outcomes, one bucket per second (succeeded, failed, retried), and the run
/// times of recent tasks for p50/p95, read from Celeriac's own instruments (<c>celeriac.tasks</c>,
/// <c>celeriac.task.duration</c>) with a <see cref="MeterListener"/>. Listening starts when it is created and costs a
/// lock and an array write per task; nothing touches the store.
/// </summary>
internal sealed class DashboardHistory : IDisposable
{
    public const int Seconds = 3600;
    private const int DurationSamples = 2048;

    private readonly TimeProvider _time;
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly long[] _stamp = new long[Seconds];
    private readonly int[] _succeeded = new int[Seconds];
    private readonly int[] _failed = new int[Seconds];
    private readonly int[] _retried = new int[Seconds];
    private readonly double[] _durations = new double[DurationSamples];
    private readonly long[] _durationAt = new long[DurationSamples];
    private readonly Dictionary<string, long> _doneByTask = new(StringComparer.Ordinal);
    private int _durationNext;
    private int _durationCount;

    public DashboardHistory(TimeProvider time)
    {
        _time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CeleriacDiagnostics.Name && instrument.Name is "celeriac.tasks" or "celeriac.task.duration")
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? state = null, task = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "state") state = tag.Value as string;
                else if (tag.Key == "task") task = tag.Value as string;
            }
            RecordOutcome(task ?? "?", state, (int)value);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => RecordDuration(value));
        _listener.Start();
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeSeconds();

    internal void RecordOutcome(string task, string? state, int count)
    {
        var second = Now();
        var i = (int)(second % Seconds);
        lock (_gate)
        {
            if (_stamp[i] != second)
            {
                _stamp[i] = second;
                _succeeded[i] = _failed[i] = _retried[i] = 0;
            }
            switch (state)
            {
                case TaskStates.Success: _succeeded[i] += count; break;
                case TaskStates.Retry: _retried[i] += count; break;
                case TaskStates.Failure: _failed[i] += count; break;
            }
            if (state is not TaskStates.Retry) _doneByTask[task] = _doneByTask.GetValueOrDefault(task) + count;
        }
    }

    internal void RecordDuration(double ms)
    {
        var second = Now();
        lock (_gate)
        {
            _durations[_durationNext] = ms;
            _durationAt[_durationNext] = second;
            _durationNext = (_durationNext + 1) % DurationSamples;
            _durationCount = Math.Min(_durationCount + 1, DurationSamples);
        }
    }

    /// <summary>Per-second counts from <paramref name="from"/> (unix seconds) through the last complete second.</summary>
    public RateSeries Read(long from)
    {
        var to = Now() - 1;
        from = Math.Max(from, to - Seconds + 1);
        var n = (int)Math.Max(0, to - from + 1);
        var s = new int[n];
        var f = new int[n];
        var r = new int[n];
        lock (_gate)
        {
            for (var k = 0; k < n; k++)
            {
                var second = from + k;
                var i = (int)(second % Seconds);
                if (_stamp[i] != second) continue;
                s[k] = _succeeded[i];
                f[k] = _failed[i];
                r[k] = _retried[i];
            }
        }
        return new RateSeries(from, s, f, r);
    }

    /// <summary>p50 and p95 of the run times recorded in the last five minutes, in milliseconds; null without any.</summary>
    public (double? P50, double? P95, int Count) Percentiles()
    {
        var since = Now() - 300;
        double[] recent;
        lock (_gate)
        {
            recent = [.. Enumerable.Range(0, _durationCount).Where(i => _durationAt[i] >= since).Select(i => _durations[i])];
        }
        if (recent.Length == 0) return (null, null, 0);
        Array.Sort(recent);
        double At(double q) => recent[Math.Clamp((int)Math.Ceiling(q * recent.Length) - 1, 0, recent.Length - 1)];
        return (At(0.50), At(0.95), recent.Length);
    }

    /// <summary>Tasks settled by this process's worker since it started, by task name.</summary>
    public Dictionary<string, long> DoneByTask()
    {
        lock (_gate) return new Dictionary<string, long>(_doneByTask, StringComparer.Ordinal);
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Per-second counts starting at <paramref name="Start"/> (unix seconds).</summary>
internal sealed record RateSeries(long Start, int[] Succeeded, int[] Failed, int[] Retried);
