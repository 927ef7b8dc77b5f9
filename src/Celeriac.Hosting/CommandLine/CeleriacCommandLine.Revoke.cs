using System.CommandLine;
using Celeriac.Operations;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>revoke</c> command: cancel a task that waits in its queue or runs in a worker.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildRevokeCommand()
    {
        var id = new Argument<string>("TASK_ID") { Description = "The id printed by `call` or returned by SendAsync." };
        var timeout = DurationOption("--timeout", "How long to wait for the worker that runs it, when it no longer waits in its queue (default 2s).");
        var command = new Command("revoke", "Revoke a task: delete it if it waits in its queue (ready or delayed), else ask the worker running it to cancel its token (the hard time limit still applies). It is recorded as REVOKED. Exit code 4 when neither applies.")
        {
            id, timeout,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => RevokeAsync(parsed.GetValue(id)!, parsed.GetValue(timeout), ct)));
        return command;
    }

    private async Task<int> RevokeAsync(string id, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new UsageException("TASK_ID must not be empty.");
        WarnIfInMemory();
        if (await Services.GetRequiredService<ITaskClient>().RevokeAsync(id, cancellationToken).ConfigureAwait(false))
        {
            _out.WriteLine($"Revoked {id}.");
            return CeleriacExitCodes.Success;
        }
        // Not waiting: the worker running it (if any) cancels it.
        var wait = timeout ?? DefaultControlTimeout;
        var replies = await Services.GetRequiredService<IWorkerControl>().RevokeAsync(id, wait, cancellationToken).ConfigureAwait(false);
        if (replies.FirstOrDefault(r => r.Ok) is { } reply)
        {
            _out.WriteLine($"Revoked {id}: {reply.ProcessId} {reply.Message}.");
            return CeleriacExitCodes.Success;
        }
        Error($"Task {id} is not waiting in a queue and no worker running it answered within {wait}: it finished, or the id is unknown.");
        return CeleriacExitCodes.NotFound;
    }
}
