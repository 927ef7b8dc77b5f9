using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Celeriac.Transport.Tests;

/// <summary>
/// A private <c>redis-server</c> on a free loopback port (never 6379) with append-only persistence in a temp
/// directory (<c>appendfsync always</c>, so a killed server loses nothing it acknowledged). It can be killed and
/// started again on the same port and directory, and is killed when disposed. Every harness gets its own key prefix,
/// so tests sharing one server never see each other's keys.
/// </summary>
/// <remarks>
/// <c>redis-server</c> must be on PATH (scripts/test.sh installs the Debian package). When it is missing the fixture
/// fails with a message saying so, in CI and locally alike (xunit 2 has no dynamic skip).
/// </remarks>
public sealed class RedisServer : IAsyncLifetime
{
    private static int s_prefixes;
    private Process? _process;

    public RedisServer()
    {
        Directory = Path.Combine(Path.GetTempPath(), "celeriac-redis-tests", Guid.NewGuid().ToString("N"));
    }

    /// <summary>The data directory (AOF files and the server log).</summary>
    public string Directory { get; }

    public int Port { get; private set; }

    /// <summary>StackExchange.Redis configuration string of this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>A key prefix no other test uses.</summary>
    public string NewPrefix() => $"t{Interlocked.Increment(ref s_prefixes)}-{Guid.NewGuid():N}:";

    public async Task InitializeAsync()
    {
        var executable = FindExecutable()
            ?? throw new InvalidOperationException(
                "redis-server is not on PATH. The Redis tests start their own private server: install it with " +
                "`apt-get install redis-server` (scripts/test.sh does this)" +
                (Environment.GetEnvironmentVariable("CI") == "true" ? "; in CI a missing server is a failure." : "."));
        System.IO.Directory.CreateDirectory(Directory);
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            Port = FreePort();
            try
            {
                await StartAsync(executable);
                return;
            }
            catch (InvalidOperationException e)
            {
                last = e;
                await KillAsync();
            }
        }
        throw new InvalidOperationException($"redis-server did not start: {last?.Message}", last);
    }

    /// <summary>Starts the server again on the same port and directory (after <see cref="KillAsync"/>), and waits for PING.</summary>
    public Task RestartAsync() =>
        StartAsync(FindExecutable() ?? throw new InvalidOperationException("redis-server is not on PATH."));

    /// <summary>Kills the server (SIGKILL: no shutdown save) and waits until it has exited.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null) return;
        _process = null;
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    public async Task DisposeAsync()
    {
        await KillAsync();
        try
        {
            if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp directory.
        }
    }

    private async Task StartAsync(string executable)
    {
        if (IsRunning) throw new InvalidOperationException("The server is already running.");
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
            WorkingDirectory = Directory,
        };
        foreach (var arg in new[]
        {
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", Directory,
            "--daemonize", "no",
            "--logfile", Path.Combine(Directory, "redis.log"),
            "--loglevel", "notice",
        })
        {
            start.ArgumentList.Add(arg);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server could not be started.");
        await WaitForPingAsync(TimeSpan.FromSeconds(15));
    }

    private async Task WaitForPingAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process is null || _process.HasExited)
                throw new InvalidOperationException($"redis-server exited at start (port {Port} taken?). Log: {Log()}");
            if (await PingAsync()) return;
            if (clock.Elapsed > timeout)
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING within {timeout}. Log: {Log()}");
            await Task.Delay(20);
        }
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port).WaitAsync(TimeSpan.FromSeconds(1));
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(1));
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    private string Log()
    {
        var path = Path.Combine(Directory, "redis.log");
        try
        {
            return File.Exists(path) ? string.Join(" | ", File.ReadLines(path).TakeLast(5)) : "(none)";
        }
        catch (IOException)
        {
            return "(unreadable)";
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port == 6379 ? FreePort() : port;
    }

    private static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>Test classes in this collection share one <see cref="RedisServer"/> (each with its own key prefixes).</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "redis";
}
