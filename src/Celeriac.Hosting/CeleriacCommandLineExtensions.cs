using Celeriac.Hosting.CommandLine;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace Celeriac;

/// <summary>Runs a built host (a <c>WebApplication</c> or a generic host) through the Celeriac command line.</summary>
public static class CeleriacCommandLineExtensions
{
    /// <summary>
    /// Parses <paramref name="args"/> and runs one command in this process, then returns its exit code. Use it as the
    /// last line of <c>Program.cs</c>: <c>return await app.RunCeleriacAsync(args);</c>
    /// <list type="bullet">
    /// <item><c>all</c> (the default when no command is given): the host (web server, if any), the worker and the scheduler (beat) in one process.</item>
    /// <item><c>web</c>: the host without the worker and the scheduler.</item>
    /// <item><c>worker [-q a,b] [-c N] [--prefetch N]</c>: only the worker; the host is not started, so no HTTP port is bound. Stops on Ctrl-C or SIGTERM.</item>
    /// <item><c>beat</c>: only the scheduler (the host is not started); with several beat processes one leads and fires. Stops on Ctrl-C or SIGTERM.</item>
    /// <item><c>schedule list|add|pause|resume|remove</c>: beat schedules kept in the store, changed at run time.</item>
    /// <item><c>call TASK [--args JSON] [--kwargs JSON] [--queue Q] [--countdown S] [--priority N] [--wait] [--timeout S]</c>: sends a task and prints its id; with <c>--wait</c>, prints its result JSON.</item>
    /// <item><c>inspect [--task ID] [--dead-letters N]</c>: queue depths, registered tasks, schedules (last and next run) and the newest dead letters, or one task's state.</item>
    /// <item><c>purge QUEUE [--yes]</c>: removes the queue's messages that no worker holds.</item>
    /// <item><c>revoke TASK_ID</c>: deletes a task that still waits in its queue, or has the worker running it cancel its token; it is recorded as REVOKED.</item>
    /// <item><c>workers [--json]</c>: the live processes, from their heartbeats.</item>
    /// <item><c>inspect workers ping|stop|concurrency|revoke</c>: remote control of the live processes (exit code 4 when none answers).</item>
    /// <item><c>send --on SUBJECT [MESSAGE] [--json JSON]</c>: publishes an event and prints its id.</item>
    /// <item><c>listen --on PATTERN [--durable NAME] [--count N] [--json]</c>: prints events as they arrive until Ctrl-C (exit 0); with <c>--durable</c>, through a durable subscription.</item>
    /// <item><c>unsubscribe NAME [--keep-queue] [--yes]</c>: removes a durable subscription and, unless <c>--keep-queue</c>, the events waiting in its queue.</item>
    /// </list>
    /// Every command has <c>--help</c>. Host switches and settings such as <c>--urls</c>, <c>--environment</c> or
    /// <c>Key=value</c>, which the host builder has already read, are ignored before the command name by every command,
    /// and after it by <c>all</c> and <c>web</c> (and, for settings, <c>worker</c> and <c>beat</c>).
    /// <para>
    /// Exit codes (see <see cref="CeleriacExitCodes"/>): 0 success; 1 the awaited task failed, expired or was revoked;
    /// 2 usage or input error (unknown command or option, bad JSON); 3 timed out waiting; 4 not found (unknown task id in
    /// <c>inspect --task</c>, no process answered); 5 configuration or transport error; 130 interrupted while waiting. Bad input never throws:
    /// it is reported on standard error with its exit code.
    /// </para>
    /// The host is disposed when the command ends.
    /// </summary>
    /// <param name="host">The built host, with <c>AddCeleriac</c> called on its services and its tasks mapped.</param>
    /// <param name="args">The process arguments, as given to <c>Main</c>.</param>
    /// <param name="cancellationToken">Stops the command as Ctrl-C would.</param>
    /// <returns>The exit code to return from <c>Main</c>.</returns>
    public static async Task<int> RunCeleriacAsync(this IHost host, string[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(args);
        var output = CreateConsole(Console.Out, Console.IsOutputRedirected);
        var error = CreateConsole(Console.Error, Console.IsErrorRedirected);
        try
        {
            return await new CeleriacCommandLine(host, output, error).RunAsync(args, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await DisposeAsync(host).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs one command writing to <paramref name="console"/> (results) and <paramref name="error"/> (errors, progress;
    /// <paramref name="console"/> when <see langword="null"/>). Does not dispose the host, so tests can run several commands on one.
    /// </summary>
    internal static Task<int> RunCeleriacAsync(this IHost host, string[] args, IAnsiConsole console, IAnsiConsole? error = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        return new CeleriacCommandLine(host, console, error ?? console).RunAsync(args, cancellationToken);
    }

    /// <summary>A console on a standard stream; plain text (no colours, no animation) when the stream is redirected.</summary>
    private static IAnsiConsole CreateConsole(TextWriter writer, bool redirected) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
    });

    private static async ValueTask DisposeAsync(IHost host)
    {
        try
        {
            // Flushes the console logger; RunAsync disposes the host itself, and disposing twice is harmless.
            if (host is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            else host.Dispose();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
