using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace CleanEnergy.ReplicaTests;

/// <summary>
/// A built app (<c>dotnet App.dll …</c>) as a child process, started in its build output directory (so its
/// appsettings.json is read), its standard output and error collected line by line.
/// </summary>
internal sealed class AppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly SemaphoreSlim _changed = new(0);

    private AppProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    /// <summary>
    /// The build output of the project <paramref name="projectDirectory"/> (relative to the repository root), in this
    /// test assembly's configuration: <c>&lt;project&gt;/bin/&lt;Configuration&gt;/net10.0/&lt;Assembly&gt;.dll</c>.
    /// </summary>
    public static string BuiltDll(string projectDirectory, string assembly)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;   // bin/<Configuration>/net10.0/
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var dll = Path.Combine(root, projectDirectory, "bin", configuration, "net10.0", assembly + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{assembly} was not built (the test project builds it as a project reference).", dll);
    }

    public static AppProcess Start(string name, string dll, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Nothing from the test runner's environment may point the app elsewhere.
        foreach (var variable in new[] { "CELERIAC_REDIS", "ASPNETCORE_URLS", "URLS", "DOTNET_URLS", "ASPNETCORE_CONTENTROOT" }) start.Environment.Remove(variable);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        var process = new Process { StartInfo = start };
        var app = new AppProcess(name, process);
        process.OutputDataReceived += (_, e) => app.Add(e.Data);
        process.ErrorDataReceived += (_, e) => app.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return app;
    }

    private void Add(string? line)
    {
        if (line is null) return;
        lock (_output) _output.Add(line);
        _changed.Release();
    }

    /// <summary>The output so far (the last <paramref name="lines"/> lines).</summary>
    public string Output(int lines = 60)
    {
        lock (_output) return string.Join('\n', _output.TakeLast(lines));
    }

    /// <summary>Waits for a line of output matching <paramref name="pattern"/> and returns its match.</summary>
    /// <exception cref="TimeoutException">None came within <paramref name="timeout"/>, or the process exited; the message holds the output.</exception>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        var seen = 0;
        while (true)
        {
            lock (_output)
            {
                for (; seen < _output.Count; seen++)
                    if (pattern.Match(_output[seen]) is { Success: true } match) return match;
            }
            if (_process.HasExited)
                throw new TimeoutException($"{Name} exited with {_process.ExitCode} before printing /{pattern}/. Output:\n{Output()}");
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"{Name} did not print /{pattern}/ within {timeout.TotalSeconds:0} s. Output:\n{Output()}");
            await _changed.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Stops it with SIGTERM (a graceful shutdown), then SIGKILL if it is still running after 10 s.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await _process.WaitForExitAsync(timeout.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
