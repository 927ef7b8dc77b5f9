using System.Diagnostics;

namespace Celeriac.IntegrationTests;

/// <summary>Where the test processes meet: a SQLite file, or a Redis server with a key prefix.</summary>
internal abstract record Store
{
    public abstract void Configure(CeleriacBuilder builder);
    public abstract void Export(IDictionary<string, string?> environment);
}

internal sealed record SqliteStore(string Path) : Store
{
    public override void Configure(CeleriacBuilder builder) => builder.UseSqlite(Path);
    public override void Export(IDictionary<string, string?> environment) => environment["CELERIAC_TEST_DB"] = Path;
}

internal sealed record RedisStore(string Configuration, string Prefix) : Store
{
    public override void Configure(CeleriacBuilder builder) => builder.UseRedis(Configuration, o => o.KeyPrefix = Prefix);
    public override void Export(IDictionary<string, string?> environment)
    {
        environment["CELERIAC_TEST_REDIS"] = Configuration;
        environment["CELERIAC_TEST_PREFIX"] = Prefix;
    }
}

/// <summary>A Celeriac.TestWorker child process: `worker -c N` on a shared store, logging each run to a file.</summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;

    public WorkerProcess(Store store, string log, int concurrency, int prefetch, IReadOnlyDictionary<string, string>? environment = null)
    {
        Log = log;
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "Celeriac.TestWorker", "bin", configuration, "net10.0", "Celeriac.TestWorker.dll"));
        if (!File.Exists(dll)) throw new FileNotFoundException("The test worker was not built.", dll);
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "worker", "-c", concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture), "--prefetch", prefetch.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        store.Export(start.Environment);
        start.Environment["CELERIAC_TEST_LOG"] = log;
        // Long enough that a loaded machine (CI, 2 cores) renews every lease in time; a killed worker's messages come back after it.
        start.Environment["CELERIAC_TEST_LEASE_SECONDS"] = "5";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Log { get; }
    public List<string> Output { get; } = [];
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Task ids this process logged as run (whole lines only: a kill may cut the last one).</summary>
    public IReadOnlyList<string> Runs()
    {
        if (!File.Exists(Log)) return [];
        using var stream = new FileStream(Log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();
        var lines = text.Split('\n');
        return [.. lines.Take(lines.Length - 1).Where(l => l.Length > 0)];
    }

    /// <summary>Waits until the process logged that its worker started.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (Output)
                if (Output.Any(l => l.Contains("Celeriac worker started", StringComparison.Ordinal))) return;
            if (_process.HasExited) throw new InvalidOperationException($"The worker exited with {_process.ExitCode}: {string.Join('\n', Output)}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The worker did not start: {string.Join('\n', Output)}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the process exits on its own (remote control's stop); returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill() => _process.Kill(entireProcessTree: false);

    /// <summary>For a task that never finished: the lines of this worker's output naming it, then its last 40 lines.</summary>
    public string Describe(string name, string taskId)
    {
        List<string> lines;
        lock (Output) lines = [.. Output];
        var text = new System.Text.StringBuilder($"-- worker {name} ({(HasExited ? "exited" : "running")}): lines naming task {taskId}, then its last 40 lines\n");
        foreach (var line in lines.Where(l => l.Contains(taskId, StringComparison.Ordinal))) text.AppendLine(line);
        foreach (var line in lines.TakeLast(40)) text.AppendLine(line);
        return text.ToString();
    }

    /// <summary>SIGTERM: graceful shutdown.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        await _process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
