using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace CleanEnergy.EndToEndTests;

/// <summary>
/// One built app of the repository (<c>dotnet &lt;Project&gt;.dll …</c>) as a child process, for the scale-out test: its
/// standard output and error kept line by line (the last <see cref="KeptLines"/>, each with the seconds since the test
/// started), lines waited for by pattern, and killed with its process tree on dispose.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int KeptLines = 400;

    private readonly Process _process;
    private readonly Stopwatch _clock;
    private readonly List<string> _lines = [];
    private readonly List<string> _kept = [];
    private readonly SemaphoreSlim _changed = new(0);

    private ChildProcess(string name, Process process, Stopwatch clock)
    {
        Name = name;
        _process = process;
        _clock = clock;
    }

    /// <summary>What the test calls it in its messages: <c>vendor</c>, <c>web</c>, <c>worker</c>, …</summary>
    public string Name { get; }

    public bool HasExited
    {
        get
        {
            try { return _process.HasExited; }
            catch (InvalidOperationException) { return true; }
        }
    }

    /// <summary>
    /// The build output of <c>samples/&lt;project&gt;</c> in this test assembly's configuration (Release under
    /// scripts/test.sh): <c>samples/&lt;project&gt;/bin/&lt;Configuration&gt;/net10.0/&lt;project&gt;.dll</c>.
    /// </summary>
    public static string SampleDll(string project)
    {
        var configuration = typeof(ChildProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dll = Path.Combine(EnergyAppProcess.RepositoryRoot, "samples", project, "bin", configuration, "net10.0", project + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is missing: build the solution (or this test project, which builds it).", dll);
    }

    /// <summary>
    /// Starts <c>dotnet <paramref name="dll"/> <paramref name="arguments"/></c> in <paramref name="workingDirectory"/>
    /// with <paramref name="environment"/> added to a cleaned copy of this process's environment (nothing from the test
    /// runner may point the app at another Redis, URL or content root). Logs are plain single lines.
    /// </summary>
    public static ChildProcess Start(string name, string dll, string workingDirectory, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string> environment, Stopwatch clock)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var variable in new[] { "CELERIAC_REDIS", "ASPNETCORE_URLS", "URLS", "DOTNET_URLS", "ASPNETCORE_CONTENTROOT", "Energy__DataDirectory", "Vendor__BaseUrl", "Celeriac__Redis__KeyPrefix" })
            start.Environment.Remove(variable);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["Energy__Login__PermitsPerUserName"] = "10000";
        start.Environment["Energy__Login__PermitsPerAddress"] = "10000";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        foreach (var (key, value) in environment) start.Environment[key] = value;

        var process = new Process { StartInfo = start };
        var child = new ChildProcess(name, process, clock);
        process.OutputDataReceived += (_, e) => child.Add(e.Data);
        process.ErrorDataReceived += (_, e) => child.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        child.Add($"[test] started: dotnet {Path.GetFileName(dll)} {string.Join(' ', arguments)} (pid {process.Id}, in {workingDirectory})");
        return child;
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private void Add(string? line)
    {
        if (line is null) return;
        var stamped = string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,7:0.000}  {line}");
        lock (_lines)
        {
            _lines.Add(line);
            _kept.Add(stamped);
            if (_kept.Count > KeptLines) _kept.RemoveAt(0);
        }
        _changed.Release();
    }

    /// <summary>The last <paramref name="lines"/> lines it printed, each with the seconds since the test started.</summary>
    public string Output(int lines = KeptLines)
    {
        lock (_lines) return string.Join('\n', _kept.TakeLast(lines));
    }

    /// <summary>Whether any line printed so far contains <paramref name="text"/>.</summary>
    public bool Printed(string text)
    {
        lock (_lines) return _lines.Any(l => l.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Waits for a line matching <paramref name="pattern"/> (also one printed before the call) and returns its match.</summary>
    /// <exception cref="TimeoutException">None within <paramref name="timeout"/>, or the process exited first; the message holds its output.</exception>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        var seen = 0;
        while (true)
        {
            lock (_lines)
            {
                for (; seen < _lines.Count; seen++)
                    if (pattern.Match(_lines[seen]) is { Success: true } match) return match;
            }
            if (HasExited)
                throw new TimeoutException($"{Name} exited with code {ExitCode()} before printing /{pattern}/. Output:\n{Output(60)}");
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"{Name} did not print /{pattern}/ within {timeout.TotalSeconds:0} s. Output:\n{Output(60)}");
            await _changed.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    private string ExitCode()
    {
        try { return _process.ExitCode.ToString(CultureInfo.InvariantCulture); }
        catch (InvalidOperationException) { return "?"; }
    }

    /// <summary>Kills it and its children at once (SIGKILL: the test is over, nothing needs a graceful stop) and waits.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // never started, or already gone
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
    }
}
