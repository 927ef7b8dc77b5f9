using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Celeriac.Hosting.Tests;

/// <summary>A generic host with Celeriac in memory and a few tasks, plus helpers to run commands in-process.</summary>
internal sealed class CliApp : IAsyncDisposable
{
    public CliApp(Action<CeleriacBuilder>? configure = null, bool withTransport = true)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddCeleriac(c =>
        {
            if (withTransport) c.UseInMemory();
            c.ConfigureWorker(o => o.FetchWait = TimeSpan.FromMilliseconds(200));
            configure?.Invoke(c);
        });
        Host = builder.Build();
        Host.MapTask("math.add", (int a, int b) => a + b);
        Host.MapTask("math.fail", () => { throw new InvalidOperationException("boom"); });
    }

    public IHost Host { get; }

    public ITaskClient Client => Host.Services.GetRequiredService<ITaskClient>();

    public Transport.ITaskTransport Transport => Host.Services.GetRequiredService<Transport.ITaskTransport>();

    /// <summary>Runs one command with recording consoles for standard output and standard error.</summary>
    public async Task<CommandRun> RunAsync(params string[] args)
    {
        var (output, outWriter) = RecordingConsole();
        var (error, errWriter) = RecordingConsole();
        var code = await Host.RunCeleriacAsync(args, output, error).WaitAsync(TimeSpan.FromSeconds(30));
        return new CommandRun(code, outWriter.ToString(), errWriter.ToString());
    }

    /// <summary>Starts the <c>worker</c> command in the background; dispose the result to stop it and check it exited cleanly.</summary>
    public BackgroundWorker StartWorker(params string[] extraArgs)
    {
        var (console, writer) = RecordingConsole();
        var stop = new CancellationTokenSource();
        var run = Host.RunCeleriacAsync(["worker", "-c", "2", .. extraArgs], console, cancellationToken: stop.Token);
        return new BackgroundWorker(run, stop, writer);
    }

    public static (IAnsiConsole Console, StringWriter Writer) RecordingConsole()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        console.Profile.Width = 200;
        return (console, writer);
    }

    /// <summary>Table borders turned into '|' and runs of spaces into one, so rows can be matched with plain text.</summary>
    public static string Flatten(string output) =>
        Regex.Replace(Regex.Replace(output, "[│┃║|]", "|"), "[ \\t]+", " ");

    public async ValueTask DisposeAsync()
    {
        if (Host is IAsyncDisposable d) await d.DisposeAsync();
        else Host.Dispose();
    }
}

/// <summary>What a command did: its exit code and what it wrote to standard output and standard error.</summary>
internal sealed record CommandRun(int ExitCode, string Out, string Err)
{
    /// <summary>Both streams, for messages whose stream does not matter to a test.</summary>
    public string All => Out + Err;

    /// <summary>The non-empty lines of standard output.</summary>
    public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- out ---\n{Out}\n--- err ---\n{Err}";
}

internal sealed class BackgroundWorker(Task<int> run, CancellationTokenSource stop, StringWriter output) : IAsyncDisposable
{
    /// <summary>The command's exit code, when it ends on its own (remote control's stop).</summary>
    public Task<int> Completion => run;

    public string Output => output.ToString();

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        var code = await run.WaitAsync(TimeSpan.FromSeconds(15));
        stop.Dispose();
        Assert.True(code == CeleriacExitCodes.Success, $"worker exited with {code}: {output}");
    }
}
