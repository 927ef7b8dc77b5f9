using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Celeriac.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.Memory;

/// <summary>
/// Events in one process: the durable registry is a dictionary, publish enqueues into the in-memory transport under
/// the registry's lock (so a subscription saved before a publish always gets it), and live listeners are bounded channels.
/// </summary>
internal sealed class InMemoryEventStore(InMemoryTransport transport, TimeProvider time, ILogger<InMemoryEventStore>? logger = null) : IEventStore
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, DurableSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly List<Channel<PublishedEvent>> _listeners = [];

    public ValueTask SaveSubscriptionAsync(DurableSubscription subscription, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        EventSubjects.ValidatePattern(subscription.Pattern);
        lock (_gate)
        {
            var createdAt = _subscriptions.TryGetValue(subscription.Name, out var old) ? old.CreatedAt : subscription.CreatedAt;
            _subscriptions[subscription.Name] = subscription with { CreatedAt = createdAt };
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> DeleteSubscriptionAsync(string name, CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult(_subscriptions.Remove(name));
    }

    public ValueTask<IReadOnlyList<DurableSubscription>> GetSubscriptionsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return ValueTask.FromResult<IReadOnlyList<DurableSubscription>>([.. _subscriptions.Values.OrderBy(s => s.Name, StringComparer.Ordinal)]);
    }

    public async ValueTask<IReadOnlyList<string>> PublishAsync(PublishedEvent published, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(published);
        List<string> names = [];
        ValueTask<string[]> enqueued = ValueTask.FromResult<string[]>([]);
        lock (_gate)
        {
            List<OutgoingMessage> messages = [];
            foreach (var s in _subscriptions.Values)
            {
                if (!EventSubjects.Matches(s.Pattern, published.Subject)) continue;
                names.Add(s.Name);
                messages.Add(new OutgoingMessage(published.Id + ":" + s.Name, s.Queue, 0, published.Body, time.GetUtcNow()));
            }
            // The in-memory transport completes synchronously, inside this lock.
            if (messages.Count > 0) enqueued = transport.EnqueueAsync(messages, cancellationToken);
            foreach (var listener in _listeners) listener.Writer.TryWrite(published);
        }
        await enqueued.ConfigureAwait(false);
        return names;
    }

    public async IAsyncEnumerable<PublishedEvent> ListenAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = ListenerQueue.Create(_logger);
        lock (_gate) _listeners.Add(channel);
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var item)) yield return item;
            }
        }
        finally
        {
            lock (_gate) _listeners.Remove(channel);
        }
    }
}
