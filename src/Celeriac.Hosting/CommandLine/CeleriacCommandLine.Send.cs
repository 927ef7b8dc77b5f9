using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Hosting.CommandLine;

/// <summary>The <c>send</c> command: publish one event.</summary>
internal sealed partial class CeleriacCommandLine
{
    private Command BuildSendCommand()
    {
        var subject = new Option<string>("--on")
        {
            Description = "The subject to publish on, dot-separated tokens without wildcards, e.g. alerts.disk.full.",
            HelpName = "SUBJECT",
            Required = true,
        };
        var message = new Argument<string?>("MESSAGE")
        {
            Description = "The payload as plain text (published as a JSON string). Omit it, and --json, for a null payload.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var json = new Option<string?>("--json") { Description = "The payload as a JSON value instead of MESSAGE, e.g. '{\"host\": \"db1\", \"free\": 0.02}'.", HelpName = "JSON" };

        var command = new Command("send", "Publish an event; print its id, then (on standard error) the durable subscriptions it was queued for.")
        {
            subject, message, json,
        };
        command.SetAction((parsed, _) => GuardAsync(ct => SendAsync(parsed.GetValue(subject)!, parsed.GetValue(message), parsed.GetValue(json), ct)));
        return command;
    }

    private async Task<int> SendAsync(string subject, string? message, string? json, CancellationToken cancellationToken)
    {
        if (!EventSubjects.IsValidSubject(subject)) ThrowUsage(() => EventSubjects.ValidateSubject(subject));
        if (message is not null && json is not null)
            throw new UsageException("Give the payload either as MESSAGE (plain text) or as --json JSON, not both.");
        object? payload = json is not null ? ParseJson("--json", json, "{\"host\": \"db1\"}") : message;

        var bus = Services.GetRequiredService<IEventBus>();
        WarnIfInMemory();
        var receipt = await bus.PublishAsync(subject, payload, cancellationToken).ConfigureAwait(false);
        WriteData(receipt.Id);
        Error(receipt.Subscriptions.Count == 0
            ? $"No durable subscription matched {subject}; only listeners running now got it."
            : $"Queued for {receipt.Subscriptions.Count} durable subscription(s): {string.Join(", ", receipt.Subscriptions)}");
        return CeleriacExitCodes.Success;
    }

    /// <summary>Runs a validation that throws <see cref="ArgumentException"/> and turns its message into a usage error.</summary>
    private static void ThrowUsage(Action validate)
    {
        try
        {
            validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(UsageMessage(e));
        }
    }

    /// <summary>An <see cref="ArgumentException"/>'s message without the " (Parameter 'x')" the runtime appends.</summary>
    private static string UsageMessage(ArgumentException e) =>
        e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>A payload as one line: a JSON string as its text, anything else as compact JSON, nothing as <c>null</c>.</summary>
    private static string PayloadText(JsonElement payload) => payload.ValueKind switch
    {
        JsonValueKind.String => payload.GetString()!,
        JsonValueKind.Undefined => "null",
        _ => CompactJson(payload),
    };

    private static string CompactJson(JsonElement value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, LineJson))
            value.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>One line of JSON; non-ASCII text is kept readable (the output is a terminal or a pipe, never HTML).</summary>
    private static readonly JsonWriterOptions LineJson = new()
    {
        Indented = false,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
