using System.Collections.Concurrent;

namespace Celeriac.Sqlite;

/// <summary>
/// Read connections: opened on demand, read-only (<c>query_only</c>), each with its own prepared commands, and kept
/// in a small pool. WAL lets them read while the writer writes; each read sees the last commit.
/// </summary>
internal sealed partial class SqliteEngine
{
    private static readonly int MaxIdleReaders = Math.Max(4, Environment.ProcessorCount * 2);
    private readonly ConcurrentQueue<CommandCache> _readers = new();
    private int _idleReaders;

    /// <summary>Runs <paramref name="read"/> on a pooled read connection.</summary>
    public TResult Read<TState, TResult>(Func<CommandCache, TState, TResult> read, TState state, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureStarted();
        var reader = RentReader();
        try
        {
            return read(reader, state);
        }
        finally
        {
            ReturnReader(reader);
        }
    }

    private CommandCache RentReader()
    {
        if (_readers.TryDequeue(out var reader))
        {
            Interlocked.Decrement(ref _idleReaders);
            return reader;
        }
        return new CommandCache(Open(readOnly: true));
    }

    private void ReturnReader(CommandCache reader)
    {
        if (!_disposed)
        {
            if (Interlocked.Increment(ref _idleReaders) <= MaxIdleReaders)
            {
                _readers.Enqueue(reader);
                // Closed meanwhile: the sweep in Dispose may have run before this one was back.
                if (_disposed) DisposeReaders();
                return;
            }
            Interlocked.Decrement(ref _idleReaders);
        }
        reader.Dispose();
    }

    private void DisposeReaders()
    {
        while (_readers.TryDequeue(out var reader)) reader.Dispose();
    }
}
