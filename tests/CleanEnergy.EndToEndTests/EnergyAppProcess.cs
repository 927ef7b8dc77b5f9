using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace CleanEnergy.EndToEndTests;

/// <summary>
/// The real CleanEnergy app as a newcomer runs it: its build output (<c>samples/CleanEnergy/bin/{Configuration}/net10.0/CleanEnergy.dll</c>)
/// started with <c>dotnet</c> in the project directory (as <c>dotnet run</c> does) in the one-command mode (web, worker,
/// beat and the vendor simulator in one process, SQLite), on a free loopback port (<c>--urls http://127.0.0.1:0</c>),
/// with its data in a fresh temp directory (<c>Energy__DataDirectory</c>). The address of the app and of the simulator
/// are read from the banner it prints. <see cref="RunCommandAsync"/> runs the same app's command line (e.g. <c>send</c>)
/// against the same data directory. Disposing kills the process tree and deletes the directory.
/// </summary>
public sealed partial class EnergyAppProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private const int KeptLines = 600;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<string> _appUrl = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Uri> _vendorUrl = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _demoLogin = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private EnergyAppProcess(string dataDirectory)
    {
        DataDirectory = dataDirectory;
        _process = new Process { StartInfo = StartInfo(["--urls", "http://127.0.0.1:0"]), EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) =>
        {
            var error = new InvalidOperationException($"CleanEnergy exited with code {SafeExitCode()} before it was ready. Output:\n{Output}");
            _appUrl.TrySetException(error);
            _vendorUrl.TrySetException(error);
            _demoLogin.TrySetException(error);
        };
    }

    /// <summary>The app, e.g. <c>http://127.0.0.1:41235</c> (no trailing slash).</summary>
    public string Url { get; private set; } = null!;

    /// <summary>The in-process vendor simulator (its <c>/admin</c> endpoints flip the grid).</summary>
    public Uri VendorUrl { get; private set; } = null!;

    /// <summary>Where the app keeps its databases and keys for this run.</summary>
    public string DataDirectory { get; }

    /// <summary>The last lines the app printed (stdout and stderr), for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>The repository root (the directory with <c>Celeriac.slnx</c>).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>samples/CleanEnergy: the working directory of the app, as with <c>dotnet run</c>.</summary>
    public static string ProjectDirectory => Path.Combine(RepositoryRoot, "samples", "CleanEnergy");

    /// <summary>The app's build output for this test build's configuration (Release under scripts/test.sh).</summary>
    public static string AppDll
    {
        get
        {
            var configuration = typeof(EnergyAppProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
            return Path.Combine(ProjectDirectory, "bin", configuration, "net10.0", "CleanEnergy.dll");
        }
    }

    public static async Task<EnergyAppProcess> StartAsync()
    {
        if (!File.Exists(AppDll)) throw new InvalidOperationException($"{AppDll} is missing: build samples/CleanEnergy (the solution build does).");
        var app = new EnergyAppProcess(Directory.CreateTempSubdirectory("cleanenergy-e2e-").FullName);
        try
        {
            app._process.Start();
            app._process.BeginOutputReadLine();
            app._process.BeginErrorReadLine();
            app.Url = await app._appUrl.Task.WaitAsync(StartTimeout);
            app.VendorUrl = await app._vendorUrl.Task.WaitAsync(StartTimeout);
            await app._demoLogin.Task.WaitAsync(StartTimeout);
            return app;
        }
        catch (TimeoutException e)
        {
            var output = app.Output;
            await app.DisposeAsync();
            throw new TimeoutException($"CleanEnergy did not print its banner within {StartTimeout.TotalSeconds:0} s. Output:\n{output}", e);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Runs the app's command line once (<c>dotnet CleanEnergy.dll send --on alerts.test "hello"</c>) on the same data
    /// directory, and returns its exit code and output.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunCommandAsync(params string[] args)
    {
        using var process = new Process { StartInfo = StartInfo(args) };
        var output = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`CleanEnergy {string.Join(' ', args)}` did not finish within 60 s. Output:\n{string.Join('\n', output)}");
        }
        process.WaitForExit();   // flushes the output events
        return (process.ExitCode, string.Join('\n', output));
    }

    private ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = ProjectDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(AppDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["Energy__DataDirectory"] = DataDirectory;
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("DOTNET_URLS");
        start.Environment.Remove("CELERIAC_REDIS");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        // Every test signs in as the same user from 127.0.0.1; the login throttle has its own tests (WebSecurityTests).
        start.Environment["Energy__Login__PermitsPerUserName"] = "10000";
        start.Environment["Energy__Login__PermitsPerAddress"] = "10000";
        return start;
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private void OnLine(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > KeptLines) _output.TryDequeue(out _);
        if (RunningAt().Match(line) is { Success: true } running) _appUrl.TrySetResult(running.Groups[1].Value.TrimEnd('/'));
        if (VendorAt().Match(line) is { Success: true } vendor) _vendorUrl.TrySetResult(new Uri(vendor.Groups[1].Value));
        if (line.Contains("demo login:", StringComparison.Ordinal) && line.Contains("alice / demo", StringComparison.Ordinal)) _demoLogin.TrySetResult();
    }

    private string SafeExitCode()
    {
        try
        {
            return _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Celeriac.slnx"))) return directory.FullName;
        throw new InvalidOperationException($"No Celeriac.slnx above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"CleanEnergy is running at (http://\S+)")]
    private static partial Regex RunningAt();

    [GeneratedRegex(@"vendor cloud:\s+(http://\S+)")]
    private static partial Regex VendorAt();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
