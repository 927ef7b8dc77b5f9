using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>revoke</c> command: cancel a task that still waits in its queue.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildRevokeCommand()
    {
        var id = new Argument<string>("TASK_ID") { Description = "The id printed by `call` or returned by SendAsync." };
        var command = new Command("revoke", "Delete a task that waits in its queue (ready or delayed) and record it as REVOKED. A task a worker already holds runs.")
        {
            id,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => RevokeAsync(parsed.GetValue(id)!, ct)));
        return command;
    }

    private async Task<int> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new UsageException("TASK_ID must not be empty.");
        WarnIfInMemory();
        if (await Services.GetRequiredService<ITaskClient>().RevokeAsync(id, cancellationToken).ConfigureAwait(false))
        {
            _out.WriteLine($"Revoked {id}.");
            return CeleriacExitCodes.Success;
        }
        Error($"Task {id} is not waiting in a queue: a worker holds it, it finished, or the id is unknown.");
        return CeleriacExitCodes.NotFound;
    }
}
