using System.CommandLine;
using System.Globalization;
using Celeriac.Events;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Celeriac.Hosting.CommandLine;

/// <summary>
/// The <c>unsubscribe</c> command: retire a durable subscription. Every publish queues an event for every durable
/// subscription whose pattern matches, consumed or not, so a subscriber that is gone for good (a decommissioned
/// replica) must be removed, or its queue grows for ever.
/// </summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildUnsubscribeCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The durable subscription to remove (as in 'inspect')." };
        var keep = new Option<bool>("--keep-queue") { Description = "Keep the events already queued for it (default: remove those no worker holds)." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation (it is not asked either when standard input is not interactive)." };
        var command = new Command("unsubscribe", "Remove a durable subscription: events published from now on are no longer queued for it, and its waiting events are removed unless --keep-queue.")
        {
            name, keep, yes,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => UnsubscribeAsync(parsed.GetValue(name)!, parsed.GetValue(keep), parsed.GetValue(yes), ct)));
        return command;
    }

    private async Task<int> UnsubscribeAsync(string name, bool keepQueue, bool yes, CancellationToken cancellationToken)
    {
        ThrowUsage(() => SubscriptionRegistry.ValidateDurableName(name));
        var store = Services.GetRequiredService<EventBus>().Store;
        var transport = Services.GetRequiredService<Transport.ITaskTransport>();
        WarnIfInMemory();
        var existing = (await store.GetSubscriptionsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Name == name);
        if (existing is null)
        {
            Error($"No durable subscription named '{name}'.");
            return CeleriacExitCodes.NotFound;
        }
        if (!yes && _out.Profile.Capabilities.Interactive && !Console.IsInputRedirected)
        {
            var stats = (await transport.GetQueueStatsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Queue == existing.Queue);
            var waiting = stats is null ? 0 : stats.Ready + stats.Delayed;
            var what = keepQueue ? "" : $" and the {waiting} event(s) waiting in its queue";
            var prompt = new ConfirmationPrompt($"Remove durable subscription '{Markup.Escape(name)}' ({Markup.Escape(existing.Pattern)}){what}?") { DefaultValue = false };
            if (!await prompt.ShowAsync(_out, cancellationToken).ConfigureAwait(false))
            {
                Error("Nothing removed.");
                return CeleriacExitCodes.Success;
            }
        }

        // The subscription first: a publish after this queues nothing more, so the purge below leaves the queue empty.
        await store.DeleteSubscriptionAsync(name, cancellationToken).ConfigureAwait(false);
        var purged = keepQueue ? 0 : await transport.PurgeAsync(existing.Queue, cancellationToken).ConfigureAwait(false);
        _out.WriteLine(keepQueue
            ? $"Removed durable subscription '{name}' ({existing.Pattern}); its queue '{existing.Queue}' is kept."
            : $"Removed durable subscription '{name}' ({existing.Pattern}) and {purged.ToString(CultureInfo.InvariantCulture)} waiting event(s) of queue '{existing.Queue}'.");
        if (Services.GetService<SubscriptionRegistry>()?.Durable.Any(d => d.Durable == name) == true)
            Error($"Warning: this application maps durable subscription '{name}'; a process of it saves the subscription again when it starts. Remove the MapSubscription(..., durable: \"{name}\") first.");
        return CeleriacExitCodes.Success;
    }
}
