using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Celeriac.Messaging;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Events;

/// <summary>Builds event envelopes, checks their size and hands them to the <see cref="IEventStore"/>.</summary>
internal sealed partial class EventBus(IServiceProvider services, IOptions<CeleriacOptions> options, TimeProvider time, ILogger<EventBus> logger) : IEventBus
{
    private readonly CeleriacOptions _options = options.Value;

    /// <summary>The store; an error that says so when the transport has none.</summary>
    public IEventStore Store => services.GetService<IEventStore>()
        ?? throw new InvalidOperationException("The configured transport has no event store (IEventStore): events need UseInMemory, UseSqlite or UseRedis.");

    public async ValueTask<PublishReceipt> PublishAsync(string subject, object? payload = null, CancellationToken cancellationToken = default)
    {
        EventSubjects.ValidateSubject(subject);
        // A producer span whose W3C context travels in the envelope: durable handlers (the worker's celeriac.task span)
        // and ephemeral ones (celeriac.event) are its children, in any process.
        using var span = CeleriacDiagnostics.Source.StartActivity("celeriac.publish " + subject, ActivityKind.Producer);
        var envelope = new TaskMessage
        {
            Id = TaskIds.New(),
            Task = subject,
            Subject = subject,
            Published = time.GetUtcNow(),
            Args = JsonSerializer.SerializeToElement(new[] { payload }, TaskJson.Options),
            Origin = TaskIds.Origin,
            IgnoreResult = true,
            TraceParent = (span ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null,
        };
        span?.SetTag("celeriac.event.id", envelope.Id);
        var body = JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.TaskMessage);
        var bytes = MessageSize.Check(body, $"event '{subject}'", _options.MaxMessageBytes);
        if (bytes > _options.WarnMessageBytes)
            LogLargeEvent(subject, envelope.Id, bytes, _options.WarnMessageBytes);
        var names = await Store.PublishAsync(new PublishedEvent(envelope.Id, subject, body), cancellationToken).ConfigureAwait(false);
        CeleriacDiagnostics.Published(subject);
        return new PublishReceipt(envelope.Id, names);
    }

    public IAsyncEnumerable<EventMessage> SubscribeAsync(string pattern, CancellationToken cancellationToken = default)
    {
        EventSubjects.ValidatePattern(pattern);
        return ListenAsync(pattern, cancellationToken);
    }

    private async IAsyncEnumerable<EventMessage> ListenAsync(string pattern, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var events = Store.ListenAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                PublishedEvent published;
                try
                {
                    if (!await events.MoveNextAsync().ConfigureAwait(false)) break;
                    published = events.Current;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                if (!EventSubjects.Matches(pattern, published.Subject)) continue;
                if (TryRead(published.Body, out var message, out var error))
                    yield return message;
                else
                    LogMalformed(published.Id, published.Subject, error);
            }
        }
        finally
        {
            await events.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads an event envelope; <paramref name="error"/> says why when it is not one.</summary>
    internal static bool TryRead(string body, out EventMessage message, out string error)
    {
        message = null!;
        try
        {
            var envelope = JsonSerializer.Deserialize(body, EnvelopeJsonContext.Default.TaskMessage);
            if (envelope?.Subject is not { } subject || string.IsNullOrEmpty(envelope.Id))
            {
                error = "it is not an event envelope (no subject or id).";
                return false;
            }
            message = new EventMessage(envelope.Id, subject, envelope.Published ?? default, envelope.Args) { TraceParent = envelope.TraceParent };
            error = "";
            return true;
        }
        catch (JsonException e)
        {
            error = "it is not valid JSON: " + e.Message;
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {Subject} ({EventId}) is {Bytes} bytes, over the warning size of {Limit} bytes; pass identifiers, not whole objects")]
    private partial void LogLargeEvent(string subject, string eventId, int bytes, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {EventId} on {Subject} skipped: {Error}")]
    private partial void LogMalformed(string eventId, string subject, string error);
}
