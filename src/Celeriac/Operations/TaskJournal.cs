using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Celeriac.Transport;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Operations;

/// <summary>
/// Records task events off the hot path: <see cref="Record"/> only queues the event; one loop writes what queued up
/// to the store in batches. When the store is slow and the queue is full, events are dropped (counted and logged
/// once a minute): the journal is for people looking, never a reason to slow a task or lose one.
/// </summary>
internal sealed partial class TaskJournal(IOperationsStore store, IOptions<PresenceOptions> options, ILogger<TaskJournal> logger) : BackgroundService
{
    private const int Capacity = 10_000;
    private const int BatchSize = 500;
    private readonly Channel<TaskEvent> _queue = Channel.CreateBounded<TaskEvent>(new BoundedChannelOptions(Capacity) { SingleReader = true });
    private long _dropped;

    /// <summary>Queues <paramref name="e"/> for the store; counts it as dropped when the queue is full.</summary>
    public void Record(TaskEvent e)
    {
        if (!_queue.Writer.TryWrite(e)) Interlocked.Increment(ref _dropped);
    }

    /// <summary>Writes what is queued now (tests and shutdown).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var batch = new List<TaskEvent>(BatchSize);
        while (_queue.Reader.TryRead(out var e))
        {
            batch.Add(e);
            if (batch.Count == BatchSize) { await WriteAsync(batch, cancellationToken).ConfigureAwait(false); batch.Clear(); }
        }
        if (batch.Count > 0) await WriteAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await FlushAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogWriteFailed(e.Message);
                }
                if (Interlocked.Exchange(ref _dropped, 0) is var dropped and > 0) LogDropped(dropped);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try { await FlushAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { LogWriteFailed(e.Message); }
    }

    private ValueTask WriteAsync(List<TaskEvent> batch, CancellationToken cancellationToken)
    {
        var records = batch.Select(e => new TaskEventRecord(e.TaskId, e.At, JsonSerializer.Serialize(e, OperationsJsonContext.Default.TaskEvent))).ToArray();
        return store.AppendTaskEventsAsync(records, options.Value.JournalWindow, options.Value.JournalSize, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The task journal could not be written: {Error}")]
    private partial void LogWriteFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The task journal dropped {Dropped} events: the store is slower than the tasks")]
    private partial void LogDropped(long dropped);
}

/// <summary>Reads the journal through the store.</summary>
internal sealed class TaskHistory(IOperationsStore store) : ITaskHistory
{
    public async ValueTask<IReadOnlyList<TaskEvent>> GetStoryAsync(string taskId, CancellationToken cancellationToken = default) =>
        Read(await store.GetTaskEventsAsync(taskId, cancellationToken).ConfigureAwait(false));

    public async ValueTask<IReadOnlyList<TaskEvent>> FindRecentAsync(string? task = null, string? state = null, int limit = 100, CancellationToken cancellationToken = default)
    {
        // Filters run over the bounded index: a filtered search reads more of it to find its page.
        var read = task is null && state is null ? limit : Math.Max(limit, 5_000);
        return Read(await store.GetRecentTasksAsync(read, cancellationToken).ConfigureAwait(false))
            .Where(e => (task is null || e.Task == task) && (state is null || string.Equals(e.State, state, StringComparison.OrdinalIgnoreCase)))
            .Take(limit).ToArray();
    }

    /// <summary>Reads what parses; a damaged record costs only itself.</summary>
    private static TaskEvent[] Read(IReadOnlyList<string> records)
    {
        var events = new List<TaskEvent>(records.Count);
        foreach (var record in records)
        {
            try
            {
                if (JsonSerializer.Deserialize(record, OperationsJsonContext.Default.TaskEvent) is { } e) events.Add(e);
            }
            catch (JsonException)
            {
            }
        }
        return [.. events];
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskEvent))]
[JsonSerializable(typeof(ProcessInfo))]
[JsonSerializable(typeof(ProcessInfo[]))]
[JsonSerializable(typeof(ControlCommand))]
[JsonSerializable(typeof(ControlAnswer))]
internal sealed partial class OperationsJsonContext : JsonSerializerContext;
