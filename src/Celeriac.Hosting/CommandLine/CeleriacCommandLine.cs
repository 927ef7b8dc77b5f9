using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using Celeriac.Memory;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>
/// The command line inside a Celeriac app.
/// <para>
/// Lifecycle: one instance per <c>RunCeleriacAsync</c> call. <see cref="RunAsync"/> builds the command tree, parses
/// the arguments, and runs exactly one command. <c>all</c> and <c>web</c> hand the process to <c>host.RunAsync</c>,
/// which owns Ctrl-C and SIGTERM; every other command leaves the host unstarted (no hosted service runs, no port is
/// bound), resolves what it needs from <c>host.Services</c>, and stops on its own <see cref="ShutdownSignal"/>. Parse
/// errors, bad input and transport failures are turned into messages and exit codes (<see cref="CeleriacExitCodes"/>),
/// never exceptions.
/// </para>
/// </summary>
internal sealed partial class CeleriacCommandLine
{
    private readonly IHost _host;
    private readonly IAnsiConsole _out;
    private readonly IAnsiConsole _err;
    private readonly ILogger _logger;
    private CancellationToken _cancellation;

    public CeleriacCommandLine(IHost host, IAnsiConsole output, IAnsiConsole error)
    {
        _host = host;
        _out = output;
        _err = error;
        _logger = host.Services.GetService<ILoggerFactory>()?.CreateLogger("Celeriac.Hosting") ?? NullLogger.Instance;
    }

    private IServiceProvider Services => _host.Services;

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        _cancellation = cancellationToken;
        try
        {
            args = ApplyRedisOption(args);
        }
        catch (UsageException e)
        {
            Error(e.Message);
            return CeleriacExitCodes.UsageError;
        }
        var root = BuildCommands();
        ParseResult parsed;
        try
        {
            parsed = root.Parse(CommandTokens(root, args));
        }
        catch (Exception e)
        {
            Error($"Could not parse the command line: {e.Message}");
            return CeleriacExitCodes.UsageError;
        }
        var configuration = new InvocationConfiguration
        {
            Output = _out.Profile.Out.Writer,
            Error = _err.Profile.Out.Writer,
            // Commands handle Ctrl-C themselves: the host's own lifetime for all/web, a ShutdownSignal for the rest.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };

        if (parsed.Action is ParseErrorAction parseError)
        {
            parseError.ShowHelp = false;
            parseError.ShowTypoCorrections = true;
            await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
            Error($"Run '{CommandPath(parsed)} --help' for usage.");
            return CeleriacExitCodes.UsageError;
        }

        try
        {
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Actions catch their own errors; this is a last resort so that nothing escapes RunCeleriacAsync.
            return Fail(e);
        }
    }

    /// <summary>The command tree: the root (the host, as <c>all</c>) and one subcommand per command.</summary>
    internal RootCommand BuildCommands()
    {
        var root = new RootCommand("Runs this app: web server, worker and scheduler together (the default), any one alone, or a one-off command that sends tasks, publishes or listens to events, or inspects.");
        root.SetAction((_, ct) => RunHostAsync(worker: true, ct));

        var all = new Command("all", "Run the host (web server, if any), the worker and the scheduler (beat) in one process. The default. Host switches after it (--urls URL, --environment NAME, key=value) are left to the host.");
        all.SetAction((_, ct) => RunHostAsync(worker: true, ct));

        var web = new Command("web", "Run the host without the worker and the scheduler: serve requests and send tasks, run none. Host switches after it are left to the host.");
        web.SetAction((_, ct) => RunHostAsync(worker: false, ct));

        root.Subcommands.Add(all);
        root.Subcommands.Add(web);
        root.Subcommands.Add(BuildWorkerCommand());
        root.Subcommands.Add(BuildBeatCommand());
        root.Subcommands.Add(BuildCallCommand());
        root.Subcommands.Add(BuildInspectCommand());
        root.Subcommands.Add(BuildWorkersCommand());
        root.Subcommands.Add(BuildPurgeCommand());
        root.Subcommands.Add(BuildRevokeCommand());
        root.Subcommands.Add(BuildScheduleCommand());
        root.Subcommands.Add(BuildSendCommand());
        root.Subcommands.Add(BuildListenCommand());
        root.Subcommands.Add(BuildUnsubscribeCommand());
        return root;
    }

    /// <summary>
    /// <c>--redis CONFIG</c> (or <c>--redis=CONFIG</c>) anywhere on the line, for any command: points this process at
    /// that Redis by setting <c>CELERIAC_REDIS</c>, which <c>UseRedis</c> reads before the connection opens. Removed
    /// from the arguments the commands see.
    /// </summary>
    internal static string[] ApplyRedisOption(string[] args)
    {
        var rest = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            string? value = null;
            if (args[i] == "--redis")
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith('-')) throw new UsageException("--redis needs a Redis configuration string, e.g. --redis 127.0.0.1:6379");
                value = args[++i];
            }
            else if (args[i].StartsWith("--redis=", StringComparison.Ordinal))
            {
                value = args[i]["--redis=".Length..];
            }
            if (value is null)
            {
                rest.Add(args[i]);
                continue;
            }
            if (string.IsNullOrWhiteSpace(value)) throw new UsageException("--redis needs a Redis configuration string, e.g. --redis 127.0.0.1:6379");
            Environment.SetEnvironmentVariable(RedisEnvironmentVariable, value);
        }
        return [.. rest];
    }

    /// <summary>The environment variable that overrides the Redis connection string of <c>UseRedis</c>.</summary>
    internal const string RedisEnvironmentVariable = "CELERIAC_REDIS";

    private static readonly string[] HelpTokens = ["-h", "--help", "-?", "/?", "/h"];

    /// <summary>
    /// What the parser should see. The host builder has already read host switches and settings such as
    /// <c>--urls http://…</c>, <c>--environment X</c>, <c>--Key:Sub value</c> or <c>key=value</c>; before the command name
    /// they are dropped for every command (<see cref="FindCommand"/>). <c>all</c> and <c>web</c> (and no command) start
    /// the host, so they are dropped after the name too; <c>worker</c> and <c>beat</c> drop configuration settings
    /// (<see cref="WithoutSettings"/>). Every other command's own arguments are parsed strictly.
    /// </summary>
    private static string[] CommandTokens(RootCommand root, string[] args)
    {
        var command = FindCommand(root, args, out var stoppedAt);
        if (command >= 0)
        {
            var rest = args[command..];
            if (rest.Any(a => HelpTokens.Contains(a, StringComparer.Ordinal))) return rest;
            return rest[0] switch
            {
                "all" or "web" => [rest[0]],
                "worker" or "beat" => WithoutSettings(rest),
                _ => rest,
            };
        }
        if (args.Length == 0 || args.Any(a => HelpTokens.Contains(a, StringComparer.Ordinal))) return args;
        // Something that is neither a host setting nor a command comes before a command name (`-c 4 worker`): let the
        // parser report it rather than start the host.
        if (stoppedAt >= 0 && args.Skip(stoppedAt).Any(a => IsCommandName(root, a))) return args;
        var first = args[0];
        var isHostSwitch = (first.StartsWith('-') && first != "--version") || (first.Contains('=', StringComparison.Ordinal) && !first.StartsWith('['));
        return isHostSwitch ? [] : args;
    }

    /// <summary>
    /// The index of the command name: the first argument, after any host switches and settings, that names a
    /// subcommand of <paramref name="root"/> (its name or an alias), or -1. The names come from the command tree, so a
    /// command added there is found here too. <paramref name="stoppedAt"/> is the index of the first argument that is
    /// neither a host setting nor a command name (-1 when every argument before the command, or every argument, is one).
    /// </summary>
    internal static int FindCommand(RootCommand root, string[] args, out int stoppedAt)
    {
        stoppedAt = -1;
        for (var i = 0; i < args.Length;)
        {
            if (IsCommandName(root, args[i])) return i;
            var setting = IsRootOption(root, args[i]) ? 0 : HostSettingLength(args, i);
            if (setting == 0)
            {
                stoppedAt = i;
                return -1;
            }
            i += setting;
        }
        return -1;
    }

    private static bool IsCommandName(RootCommand root, string arg) =>
        root.Subcommands.Any(c => c.Name == arg || c.Aliases.Contains(arg));

    private static bool IsRootOption(RootCommand root, string arg) =>
        HelpTokens.Contains(arg, StringComparer.Ordinal) || root.Options.Any(o => o.Name == arg || o.Aliases.Contains(arg));

    /// <summary>
    /// How many arguments from <paramref name="i"/> the host's command-line configuration takes as one setting, read
    /// as <c>AddCommandLine</c> reads them: <c>--key value</c> (2, the value whatever it looks like), <c>--key=value</c>,
    /// <c>-key=value</c>, <c>/key=value</c> or <c>key=value</c> (1); 0 for anything else.
    /// </summary>
    private static int HostSettingLength(string[] args, int i)
    {
        var arg = args[i];
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        var keyStart = arg.StartsWith("--", StringComparison.Ordinal) ? 2 : arg.StartsWith('-') || arg.StartsWith('/') ? 1 : 0;
        if (equals > keyStart) return arg.StartsWith('[') ? 0 : 1;
        if (equals < 0 && keyStart == 2 && arg.Length > 2) return i + 1 < args.Length ? 2 : 1;
        return 0;
    }

    private static readonly string[] HostSwitches = ["--urls", "--environment", "--contentRoot", "--applicationName"];

    /// <summary>
    /// <c>worker</c> and <c>beat</c> do not start the host, but its builder has read configuration from the command line
    /// too (<c>--Vendor:BaseUrl=http://…</c>, <c>--Energy:DataDirectory x</c>, <c>Key:Sub=value</c>, <c>--urls …</c>):
    /// those settings are dropped here, the command's own options are parsed strictly.
    /// </summary>
    internal static string[] WithoutSettings(string[] args)
    {
        static bool IsSetting(string name) => name.Contains(':', StringComparison.Ordinal) || HostSwitches.Contains(name, StringComparer.OrdinalIgnoreCase);
        var kept = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg.StartsWith("--", StringComparison.Ordinal) && IsSetting(arg.Split('=', 2)[0]))
            {
                if (!arg.Contains('=', StringComparison.Ordinal) && i + 1 < args.Length && !args[i + 1].StartsWith('-')) i++;
                continue;
            }
            if (!arg.StartsWith('-') && arg.Contains('=', StringComparison.Ordinal) && IsSetting(arg.Split('=', 2)[0])) continue;
            kept.Add(arg);
        }
        return [.. kept];
    }

    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (SymbolResult? r = parsed.CommandResult; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Insert(0, c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>Runs a non-host command under a <see cref="ShutdownSignal"/> and maps what it throws to an exit code.</summary>
    private async Task<int> GuardAsync(Func<CancellationToken, Task<int>> command)
    {
        using var signal = new ShutdownSignal(_cancellation);
        try
        {
            var code = await command(signal.Token).ConfigureAwait(false);
            await FlushJournalAsync().ConfigureAwait(false);
            return code;
        }
        catch (UsageException e)
        {
            Error(e.Message);
            return CeleriacExitCodes.UsageError;
        }
        catch (MessageTooLargeException e)
        {
            Error(e.Message);
            return CeleriacExitCodes.UsageError;
        }
        catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
        {
            Error("Interrupted.");
            return CeleriacExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>
    /// One-off commands run no hosted services, so the task journal's loop does not run: what they recorded (the
    /// sends of <c>call</c>, a revoke) is written here. A journal that cannot be written costs a log line, not the command.
    /// </summary>
    private async Task FlushJournalAsync()
    {
        if (Services.GetService<Celeriac.Operations.TaskJournal>() is not { } journal) return;
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await journal.FlushAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogJournalFlushFailed(e.Message);
        }
    }

    private int Fail(Exception e)
    {
        var what = e switch
        {
            OptionsValidationException => "Configuration error",
            InvalidOperationException when e.Message.Contains("service for type", StringComparison.Ordinal) =>
                "Configuration error (is services.AddCeleriac(c => c.Use…()) called with a transport?)",
            _ => "Error",
        };
        Error($"{what}: {e.GetType().Name}: {e.Message}");
        LogCommandFailed(e);
        return CeleriacExitCodes.ConfigurationError;
    }

    /// <summary>
    /// The in-memory transport lives and dies with this process: a one-off command (call, inspect, purge) sees none of
    /// another process's messages, and what it sends is lost when it exits unless this process also runs a worker.
    /// </summary>
    private void WarnIfInMemory()
    {
        if (Services.GetService<ITaskTransport>() is InMemoryTransport)
            Error("Warning: this app uses the in-memory transport, which is not shared between processes; this command only sees this process's own queues.");
    }

    /// <summary>Writes a line of data (a task id, a result) to standard output unwrapped and unstyled, so scripts can read it.</summary>
    private void WriteData(string line) => WriteRaw(_out, line);

    /// <summary>Writes a message to standard error unwrapped (Spectre would wrap it at 80 columns when redirected).</summary>
    private void Error(string line) => WriteRaw(_err, line);

    private static void WriteRaw(IAnsiConsole console, string line)
    {
        var writer = console.Profile.Out.Writer;
        writer.WriteLine(line);
        writer.Flush();
    }

    /// <summary>A whole-number option; a value that is not a number or is below <paramref name="min"/> is a parse error (exit code 2).</summary>
    private static Option<int?> IntOption(string name, string description, int min = int.MinValue, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        HelpName = "N",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                r.AddError($"{name} must be a whole number, not '{text}'.");
            else if (value < min)
                r.AddError($"{name} must be at least {min.ToString(CultureInfo.InvariantCulture)}, not {text}.");
            else
                return value;
            return null;
        },
    };

    /// <summary>A number of seconds; a value that is not a number, or is negative (or zero unless <paramref name="allowZero"/>), is a parse error.</summary>
    private static Option<double?> SecondsOption(string name, string description, bool allowZero) => new(name)
    {
        Description = description,
        HelpName = "SECONDS",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value > TimeSpan.MaxValue.TotalSeconds / 2)
                r.AddError($"{name} must be a number of seconds, not '{text}'.");
            else if (value < 0 || (value == 0 && !allowZero))
                r.AddError($"{name} must be {(allowZero ? "0 or more" : "more than 0")} seconds, not {text}.");
            else
                return value;
            return null;
        },
    };

    /// <summary>Parses a JSON option value, or fails with a usage error naming the option.</summary>
    private static JsonElement ParseJson(string option, string text, string example)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new UsageException($"{option} is not valid JSON: {e.Message} Example: {option} '{example}'");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Celeriac command failed")]
    private partial void LogCommandFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The task journal could not be written: {Error}")]
    private partial void LogJournalFlushFailed(string error);
}

/// <summary>Bad input found while running a command: reported with exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
