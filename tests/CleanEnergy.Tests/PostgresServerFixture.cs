using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace CleanEnergy.Tests;

/// <summary>
/// A private PostgreSQL server for the tests: <c>initdb</c> in a fresh temporary directory (trust authentication,
/// loopback only), started with <c>pg_ctl</c> on a free port of 127.0.0.1 with its socket in that directory, stopped
/// and deleted when disposed. <see cref="CreateDatabaseAsync"/> gives each test application a database of its own.
/// Durability is off (<c>fsync</c>, <c>synchronous_commit</c>): nothing here survives the test run anyway. The server's
/// time zone is far from UTC (Pacific/Chatham, +12:45), as a production server's local zone may be: the app's times must
/// not depend on it.
/// </summary>
/// <remarks>
/// The binaries come from Debian's <c>postgresql</c> package: <c>initdb</c> and <c>pg_ctl</c> on PATH, else under
/// <c>/usr/lib/postgresql/*/bin</c> (scripts/test.sh installs the package). When they are missing the fixture fails with
/// a message saying so (xunit 2 has no dynamic skip, and CI must not pass without the server). PostgreSQL refuses to run
/// as root: a root test process runs <c>initdb</c> and <c>pg_ctl</c> as the <c>postgres</c> system user (the package
/// creates it) through <c>runuser</c>, in a directory under /tmp that user owns.
/// </remarks>
public sealed class PostgresServer : IAsyncLifetime
{
    private static int s_databases;
    private readonly bool _asPostgresUser = Environment.IsPrivilegedProcess;
    private string? _binaries;

    public PostgresServer()
    {
        // Under /tmp for root: the postgres user must reach the directory (TMPDIR may be under /root).
        var temp = _asPostgresUser ? "/tmp" : Path.GetTempPath();
        Directory = Path.Combine(temp, "celeriac-pg-" + Guid.NewGuid().ToString("N")[..16]);
    }

    /// <summary>The server's directory: the data directory <c>data</c>, the socket and the log <c>postgres.log</c>.</summary>
    public string Directory { get; }

    public int Port { get; private set; }

    private string DataDirectory => Path.Combine(Directory, "data");

    private string LogFile => Path.Combine(Directory, "postgres.log");

    /// <summary>
    /// The Npgsql connection string of <paramref name="database"/> on this server. Idle pooled connections close after a
    /// second, so the many short-lived test applications never pile up connections.
    /// </summary>
    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database={database};" +
        "Connection Idle Lifetime=1;Connection Pruning Interval=1;Timeout=15";

    /// <summary>Creates an empty database no other test uses and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = NewDatabaseName();
        await ExecuteAsync($"CREATE DATABASE \"{name}\"");
        return ConnectionString(name);
    }

    /// <summary>A database name no other test uses (the database is not created).</summary>
    public static string NewDatabaseName() =>
        $"energy_{Interlocked.Increment(ref s_databases)}_{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Runs a statement in the <c>postgres</c> maintenance database.</summary>
    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task InitializeAsync()
    {
        _binaries = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL's initdb and pg_ctl were found neither on PATH nor under /usr/lib/postgresql/*/bin. The PostgreSQL " +
            "tests start their own private server: install it with `apt-get install postgresql` (scripts/test.sh does this).");
        if (_asPostgresUser)
        {
            // Made by the postgres user itself, so it owns the data directory, the socket and the log.
            await RunAsync("mkdir", ["-m", "700", Directory]);
        }
        else
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        await RunAsync(Path.Combine(_binaries, "initdb"),
            ["-D", DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);

        string? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            Port = FreePort();
            var settings = string.Join(' ',
                "-c listen_addresses=127.0.0.1", $"-p {Port.ToString(CultureInfo.InvariantCulture)}", $"-k {Directory}",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300", "-c TimeZone=Pacific/Chatham");
            var (status, output) = await TryRunAsync(Path.Combine(_binaries, "pg_ctl"),
                ["-D", DataDirectory, "-l", LogFile, "-w", "-t", "30", "-o", settings, "start"]);
            if (status == 0 && await AnswersAsync()) return;
            last = $"pg_ctl start exited {status}: {output.Trim()} Log: {Log()}";
            await StopAsync();   // a postmaster that did start but does not answer
        }
        throw new InvalidOperationException($"PostgreSQL did not start in {Directory}: {last}");
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await StopAsync();
        try
        {
            if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left in the temp directory.
        }
    }

    private async Task StopAsync()
    {
        if (_binaries is null || !File.Exists(Path.Combine(DataDirectory, "postmaster.pid"))) return;
        await TryRunAsync(Path.Combine(_binaries, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"]);
    }

    private async Task<bool> AnswersAsync()
    {
        try
        {
            await ExecuteAsync("SELECT 1");
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
        {
            return false;
        }
    }

    private async Task RunAsync(string file, string[] args)
    {
        var (status, output) = await TryRunAsync(file, args);
        if (status != 0)
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} exited {status}: {output.Trim()}");
    }

    /// <summary>Runs a program (as the postgres user when this process is root) and returns its exit status and output.</summary>
    private async Task<(int Status, string Output)> TryRunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(_asPostgresUser ? FindOnPath("runuser", "/usr/sbin", "/sbin") ?? "runuser" : file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",   // the postgres user may not read the test's working directory
        };
        if (_asPostgresUser)
        {
            foreach (var arg in new[] { "-u", "postgres", "--", file }) start.ArgumentList.Add(arg);
        }
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} could not be started.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after 60 s. {await stdout} {await stderr}");
        }
        return (process.ExitCode, $"{await stdout} {await stderr}");
    }

    private string Log()
    {
        try
        {
            return File.Exists(LogFile) ? string.Join(" | ", File.ReadLines(LogFile).TakeLast(8)) : "(none)";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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
        return port == 5432 ? FreePort() : port;
    }

    /// <summary>The directory holding initdb and pg_ctl: PATH first, then Debian's versioned directories, newest first.</summary>
    private static string? FindBinaries()
    {
        if (FindOnPath("pg_ctl") is { } pgCtl && File.Exists(Path.Combine(Path.GetDirectoryName(pgCtl)!, "initdb")))
            return Path.GetDirectoryName(pgCtl);
        if (!System.IO.Directory.Exists("/usr/lib/postgresql")) return null;
        return System.IO.Directory.GetDirectories("/usr/lib/postgresql")
            .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1)
            .Select(d => Path.Combine(d, "bin"))
            .FirstOrDefault(bin => File.Exists(Path.Combine(bin, "pg_ctl")) && File.Exists(Path.Combine(bin, "initdb")));
    }

    private static string? FindOnPath(string name, params string[] extra)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Concat(extra);
        return dirs.Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
    }
}

/// <summary>Test classes in this collection share one <see cref="PostgresServer"/> (each application with its own database).</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
