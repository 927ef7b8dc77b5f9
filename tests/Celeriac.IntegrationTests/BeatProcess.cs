using System.Diagnostics;
using System.Globalization;

namespace Celeriac.IntegrationTests;

/// <summary>
/// A Celeriac.TestWorker child process running <c>beat</c> on a shared store, with the schedule <c>proc.beat</c> every
/// <c>intervalMs</c> and a short leader lease, logging the scheduler's leadership changes to its output.
/// </summary>
internal sealed class BeatProcess : IDisposable
{
    private readonly Process _process;

    public BeatProcess(Store store, string dir, string name, int intervalMs, TimeSpan leaderLease)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "Celeriac.TestWorker", "bin", configuration, "net10.0", "Celeriac.TestWorker.dll"));
        if (!File.Exists(dll)) throw new FileNotFoundException("The test worker was not built.", dll);
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "beat" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        store.Export(start.Environment);
        start.Environment["CELERIAC_TEST_LOG"] = Path.Combine(dir, name + ".log");
        start.Environment["CELERIAC_TEST_BEAT_MS"] = intervalMs.ToString(CultureInfo.InvariantCulture);
        start.Environment["Celeriac__Beat__LeaderLease"] = leaderLease.ToString("c", CultureInfo.InvariantCulture);
        start.Environment["Logging__LogLevel__Celeriac.Scheduling"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        Name = name;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }
    public List<string> Output { get; } = [];
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Whether the scheduler has said it leads (and not since that it stopped leading).</summary>
    public bool Leads
    {
        get
        {
            lock (Output)
            {
                var led = Output.FindLastIndex(l => l.Contains("this process leads", StringComparison.Ordinal));
                return led >= 0 && Output.FindLastIndex(l => l.Contains("no longer leads", StringComparison.Ordinal)) < led;
            }
        }
    }

    public string Log()
    {
        lock (Output) return string.Join('\n', Output);
    }

    /// <summary>SIGKILL: no shutdown code runs; the leader key is not released.</summary>
    public void Kill() => _process.Kill(entireProcessTree: false);

    /// <summary>SIGTERM: graceful shutdown (the leader key is released).</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
