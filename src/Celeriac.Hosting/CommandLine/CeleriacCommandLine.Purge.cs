using System.CommandLine;
using System.Globalization;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>purge</c> command: drop a queue's waiting messages.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildPurgeCommand()
    {
        var queue = new Argument<string>("QUEUE") { Description = "The queue to empty." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation (it is not asked either when standard input is not interactive)." };
        var command = new Command("purge", "Remove every message of a queue that no worker holds (ready and delayed); leased messages stay. Prints the count.")
        {
            queue, yes,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => PurgeAsync(parsed.GetValue(queue)!, parsed.GetValue(yes), ct)));
        return command;
    }

    private async Task<int> PurgeAsync(string queue, bool yes, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(queue)) throw new UsageException("QUEUE must not be empty.");
        var transport = Services.GetRequiredService<ITaskTransport>();
        WarnIfInMemory();
        if (!yes && _out.Profile.Capabilities.Interactive && !Console.IsInputRedirected)
        {
            var stats = (await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Queue == queue);
            var waiting = stats is null ? 0 : stats.Ready + stats.Delayed;
            var prompt = new ConfirmationPrompt($"Remove the {waiting} waiting message(s) of queue '{Markup.Escape(queue)}'? This cannot be undone.") { DefaultValue = false };
            if (!await prompt.ShowAsync(_out, cancellationToken).ConfigureAwait(false))
            {
                Error("Nothing purged.");
                return CeleriacExitCodes.Success;
            }
        }
        var purged = await transport.PurgeAsync(queue, cancellationToken).ConfigureAwait(false);
        _out.WriteLine($"Purged {purged.ToString(CultureInfo.InvariantCulture)} message(s) from queue '{queue}'.");
        return CeleriacExitCodes.Success;
    }
}
