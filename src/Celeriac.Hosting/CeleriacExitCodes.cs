namespace Celeriac;

/// <summary>
/// Exit codes of the command line started by <see cref="CeleriacCommandLineExtensions.RunCeleriacAsync(Microsoft.Extensions.Hosting.IHost, string[], CancellationToken)"/>.
/// Scripts can rely on them; they are also listed in <c>docs/cli.md</c>.
/// </summary>
public static class CeleriacExitCodes
{
    /// <summary>0: the command did what was asked (for <c>call --wait</c>: the task succeeded).</summary>
    public const int Success = 0;

    /// <summary>1: the awaited task ended in FAILURE, EXPIRED or REVOKED.</summary>
    public const int TaskFailed = 1;

    /// <summary>2: usage or input error: unknown command or option, a bad option value, malformed JSON in <c>--args</c> or <c>--kwargs</c>.</summary>
    public const int UsageError = 2;

    /// <summary>3: <c>call --wait --timeout</c> gave up before the task finished (the task may still run).</summary>
    public const int TimedOut = 3;

    /// <summary>4: what was asked for does not exist, such as an unknown task id in <c>inspect --task</c>.</summary>
    public const int NotFound = 4;

    /// <summary>5: configuration or transport error: invalid options, no transport configured, the broker or database failed.</summary>
    public const int ConfigurationError = 5;

    /// <summary>130: interrupted by Ctrl-C or SIGTERM while waiting (the conventional 128 + SIGINT).</summary>
    public const int Interrupted = 130;
}
