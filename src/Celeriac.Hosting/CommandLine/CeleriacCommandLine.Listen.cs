using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac.Events;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Hosting.CommandLine;

/// <summary>
/// The <c>listen</c> command: print events as they arrive. Ephemeral by default (the events published while it
/// listens); with <c>--durable NAME</c> it saves that durable subscription and drains its queue, acking each event
/// only after it is printed, so events published while no listener ran are printed on the next run. Stops on Ctrl-C
/// (exit 0: that is the normal way to stop it) or after <c>--count</c> events.
/// </summary>
internal sealed partial class CeleriacCommandLine
{
    /// <summary>Most events leased per receive by <c>listen --durable</c>.</summary>
    private const int ListenBatch = 16;

    private Command BuildListenCommand()
    {
        var pattern = new Option<string>("--on")
        {
            Description = "The subject pattern: '*' matches one token, '>' (last) one or more, e.g. alerts.> or users.*.changed.",
            HelpName = "PATTERN",
            Required = true,
        };
        var durable = new Option<string?>("--durable")
        {
            Description = "Save the durable subscription NAME with PATTERN and print its queued events, those published before this run included; each is acked once printed.",
            HelpName = "NAME",
        };
        var count = IntOption("--count", "Exit after printing N events (default: until Ctrl-C).", min: 1);
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line (id, subject, published, payload) instead of text." };

        var command = new Command("listen", "Print events matching a pattern as they arrive (time, subject, payload) until Ctrl-C; with --durable, through a durable subscription that keeps them while nobody listens.")
        {
            pattern, durable, count, json,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => ListenAsync(
            new ListenRequest(parsed.GetValue(pattern)!, parsed.GetValue(durable), parsed.GetValue(count), parsed.GetValue(json)), ct)));
        return command;
    }

    private sealed record ListenRequest(string Pattern, string? Durable, int? Count, bool Json);

    private async Task<int> ListenAsync(ListenRequest request, CancellationToken cancellationToken)
    {
        if (!EventSubjects.IsValidPattern(request.Pattern)) ThrowUsage(() => EventSubjects.ValidatePattern(request.Pattern));
        if (request.Durable is { } name) ThrowUsage(() => SubscriptionRegistry.ValidateDurableName(name));
        var bus = Services.GetRequiredService<EventBus>();
        var store = bus.Store;
        WarnIfInMemory();
        try
        {
            return request.Durable is null
                ? await ListenEphemeralAsync(bus, request, cancellationToken).ConfigureAwait(false)
                : await ListenDurableAsync(store, request, request.Durable, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl-C is how a listener is meant to stop: every event printed so far was acked.
            return CeleriacExitCodes.Success;
        }
    }

    private async Task<int> ListenEphemeralAsync(EventBus bus, ListenRequest request, CancellationToken cancellationToken)
    {
        var events = bus.SubscribeAsync(request.Pattern, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            // The first read starts the store's feed (for the in-memory and SQLite stores, synchronously), so the
            // line below means "listening" rather than "about to listen".
            var next = events.MoveNextAsync();
            Error($"Listening on {request.Pattern} (ephemeral; {StopHint(request.Count)})");
            var printed = 0;
            while (await next.ConfigureAwait(false))
            {
                PrintEvent(events.Current, request.Json);
                if (++printed == request.Count) break;
                next = events.MoveNextAsync();
            }
        }
        finally
        {
            await events.DisposeAsync().ConfigureAwait(false);
        }
        return CeleriacExitCodes.Success;
    }

    private async Task<int> ListenDurableAsync(IEventStore store, ListenRequest request, string name, CancellationToken cancellationToken)
    {
        var queue = SubscriptionRegistry.QueueFor(name);
        var mapped = Services.GetRequiredService<SubscriptionRegistry>().FindDurable(queue);
        if (mapped is not null && mapped.Pattern != request.Pattern)
            throw new UsageException($"This app maps the durable subscription '{name}' with the pattern {mapped.Pattern}; listen with that pattern or under another name.");
        var existing = (await store.GetSubscriptionsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(s => s.Name == name);
        if (existing is not null && existing.Pattern != request.Pattern)
            Error($"Warning: the durable subscription '{name}' had the pattern {existing.Pattern}; it now has {request.Pattern} (events already queued stay).");
        if (mapped is not null)
            Error($"Warning: this app handles the durable subscription '{name}' in code; a running worker takes events from the same queue, so this listener sees only some of them.");

        var time = Services.GetService<TimeProvider>() ?? TimeProvider.System;
        await store.SaveSubscriptionAsync(new DurableSubscription(name, request.Pattern, queue, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        Error($"Listening on {request.Pattern} (durable subscription '{name}', queue {queue}; {StopHint(request.Count)})");

        var transport = Services.GetRequiredService<ITaskTransport>();
        var settings = Services.GetRequiredService<CeleriacRuntime>().Worker;
        var printed = 0;
        while (true)
        {
            var want = request.Count is { } count ? Math.Min(ListenBatch, count - printed) : ListenBatch;
            var received = await transport.ReceiveAsync([queue], want, settings.LeaseDuration, settings.FetchWait, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < received.Count; i++)
            {
                var leased = received[i];
                if (printed == request.Count || cancellationToken.IsCancellationRequested)
                {
                    // Not printed, so not taken: visible again at once for the next listener.
                    await transport.ReleaseAsync(leased, null, null, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                if (!EventBus.TryRead(leased.Body, out var message, out var error))
                {
                    Error($"Warning: message {leased.Id} in {queue} is not an event ({error}); moved to the dead letters.");
                    await transport.DeadLetterAsync(leased, new DeadLetterInfo("malformed", "MalformedMessage", $"The message is not an event envelope: {error}", null), CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                PrintEvent(message, request.Json);
                await transport.AckAsync(leased, CancellationToken.None).ConfigureAwait(false);
                printed++;
            }
            if (printed == request.Count) return CeleriacExitCodes.Success;
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static string StopHint(int? count) => count is { } n
        ? $"exits after {n.ToString(CultureInfo.InvariantCulture)} event(s) or on Ctrl-C"
        : "Ctrl-C to stop";

    /// <summary>
    /// One event on one line of standard output: local time, subject and payload, or with <paramref name="json"/> an
    /// object with id, subject, published (ISO 8601, UTC) and payload.
    /// </summary>
    private void PrintEvent(EventMessage message, bool json)
    {
        if (!json)
        {
            var time = Services.GetService<TimeProvider>() ?? TimeProvider.System;
            var local = TimeZoneInfo.ConvertTime(message.PublishedAt, time.LocalTimeZone);
            WriteData($"{local.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {message.Subject} {PayloadText(message.Payload)}");
            return;
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, LineJson))
        {
            writer.WriteStartObject();
            writer.WriteString("id", message.Id);
            writer.WriteString("subject", message.Subject);
            writer.WriteString("published", message.PublishedAt.UtcDateTime);
            writer.WritePropertyName("payload");
            if (message.Payload.ValueKind == JsonValueKind.Undefined) writer.WriteNullValue();
            else message.Payload.WriteTo(writer);
            writer.WriteEndObject();
        }
        WriteData(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
