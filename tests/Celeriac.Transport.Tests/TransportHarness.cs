using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Transport.Tests;

/// <summary>A transport, result store and event store on fresh storage, built through <c>AddCeleriac</c> as an app would.</summary>
public sealed class TransportHarness : IAsyncDisposable
{
    private readonly ServiceProvider _provider;
    private readonly Action? _cleanup;

    public TransportHarness(Action<CeleriacBuilder> use, TimeProvider time, Action? cleanup = null, Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(time);
        configure?.Invoke(services);
        services.AddCeleriac(use);
        _provider = services.BuildServiceProvider();
        _cleanup = cleanup;
        Time = time;
    }

    public TimeProvider Time { get; }
    public IServiceProvider Services => _provider;
    public ITaskTransport Transport => _provider.GetRequiredService<ITaskTransport>();
    public IResultStore Results => _provider.GetRequiredService<IResultStore>();
    public IEventStore Events => _provider.GetRequiredService<IEventStore>();

    public async ValueTask DisposeAsync()
    {
        await _provider.DisposeAsync();
        _cleanup?.Invoke();
    }
}

/// <summary>Fixtures for each transport.</summary>
public static class Fixtures
{
    /// <summary>
    /// Drains queue <c>q</c> with one concurrent receiver per transport given (repeat one to have several receivers on
    /// it), each taking up to <paramref name="batch"/> at a time under a long lease, until none finds more. Returns every
    /// id received, repeats included, so a test can check no message went to two receivers.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ReceiveAllConcurrentlyAsync(IEnumerable<ITaskTransport> receivers, int batch)
    {
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(receivers.Select(transport => Task.Run(async () =>
        {
            while (true)
            {
                var received = await transport.ReceiveAsync(["q"], batch, TimeSpan.FromMinutes(5), TimeSpan.Zero);
                if (received.Count == 0) return;
                foreach (var m in received) seen.Add(m.Id);
            }
        })));
        return [.. seen];
    }

    public static TransportHarness InMemory(TimeProvider time) => new(c => c.UseInMemory(), time);

    /// <summary>A fresh temp file, deleted (with its WAL files) when the harness is disposed.</summary>
    public static TransportHarness SqliteTemp(TimeProvider time)
    {
        var path = TempDatabasePath();
        return new TransportHarness(c => c.UseSqlite(path), time, () => DeleteDatabase(path));
    }

    /// <summary>A harness on <paramref name="path"/> (from <see cref="TempDatabasePath"/>) that deletes the file when disposed.</summary>
    public static TransportHarness SqliteTemp(string path, TimeProvider time) =>
        new(c => c.UseSqlite(path), time, () => DeleteDatabase(path));

    /// <summary>Another engine on <paramref name="path"/>, as a second process would have; leaves the file.</summary>
    public static TransportHarness Sqlite(string path, TimeProvider time) => new(c => c.UseSqlite(path), time);

    /// <summary>A harness on <paramref name="redis"/> with a key prefix of its own (or <paramref name="prefix"/>, to share one).</summary>
    public static TransportHarness Redis(RedisServer redis, TimeProvider time, string? prefix = null)
    {
        var keyPrefix = prefix ?? redis.NewPrefix();
        var harness = new TransportHarness(c => c.UseRedis(redis.Configuration, o => o.KeyPrefix = keyPrefix), time);
        // Connect now, as a long-running process would have, so the first call of a timing test is not the connect.
        Task.Run(async () => await harness.Services.GetRequiredService<Celeriac.Redis.RedisConnection>().DatabaseAsync()).GetAwaiter().GetResult();
        return harness;
    }

    public static string TempDatabasePath() =>
        Path.Combine(Path.GetTempPath(), "celeriac-transport-tests", Guid.NewGuid().ToString("N"), "celeriac.db");

    public static void DeleteDatabase(string path)
    {
        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            if (File.Exists(file)) File.Delete(file);
        var directory = Path.GetDirectoryName(path);
        if (directory is not null && Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
            Directory.Delete(directory);
    }
}
