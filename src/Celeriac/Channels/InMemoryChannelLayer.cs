using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Memory;

/// <summary>
/// The channel layer of one process: per group an offset counter, a bounded history and the local subscriptions, each
/// a <see cref="ChannelSubscriber"/> with its own queue, so a slow subscriber never delays the sender or the others.
/// </summary>
internal sealed class InMemoryChannelLayer(IOptions<ChannelLayerOptions> options, TimeProvider time, ILogger<InMemoryChannelLayer> logger) : IChannelLayer
{
    private sealed class Group
    {
        public long LastOffset;
        public DateTimeOffset LastSentAt;
        public readonly Queue<GroupMessage> History = new();
        public readonly List<ChannelSubscriber> Subscriptions = [];
    }

    private readonly ChannelLayerOptions _options = options.Value;
    private readonly ILogger _logger = logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Group> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> Members, DateTimeOffset ExpiresAt)> _nodes = new(StringComparer.Ordinal);
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    public ValueTask<GroupMessage> GroupSendAsync(string group, object message, CancellationToken cancellationToken = default)
    {
        var (element, type) = ChannelGroups.Prepare(group, message, _options.MaxMessageBytes);
        GroupMessage sent;
        lock (_gate)
        {
            var g = GroupOf(group);
            var now = time.GetUtcNow();
            if (now - g.LastSentAt > _options.HistoryWindow) g.History.Clear();
            sent = new GroupMessage(group, ++g.LastOffset, type, element, now);
            g.LastSentAt = now;
            g.History.Enqueue(sent);
            while (g.History.Count > _options.HistoryLength) g.History.Dequeue();
            foreach (var s in g.Subscriptions) s.Post(sent);
            SweepNowAndThen(now);
        }
        return ValueTask.FromResult(sent);
    }

    public ValueTask<GroupHistory> ReadHistoryAsync(string group, long afterOffset, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        lock (_gate)
        {
            if (!_groups.TryGetValue(group, out var g)) return ValueTask.FromResult(ChannelGroups.Slice([], afterOffset, 0));
            var kept = time.GetUtcNow() - g.LastSentAt > _options.HistoryWindow ? [] : g.History.ToList();
            return ValueTask.FromResult(ChannelGroups.Slice(kept, afterOffset, g.LastOffset));
        }
    }

    public ValueTask<IAsyncDisposable> SubscribeAsync(string group, Func<GroupMessage, ValueTask> onMessage, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        ArgumentNullException.ThrowIfNull(onMessage);
        var subscription = new ChannelSubscriber(group, onMessage, _logger, Remove);
        lock (_gate) GroupOf(group).Subscriptions.Add(subscription);
        return ValueTask.FromResult<IAsyncDisposable>(subscription);
    }

    public ValueTask ReportMembersAsync(string node, IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> members, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(node);
        ArgumentNullException.ThrowIfNull(members);
        lock (_gate) _nodes[node] = (members, time.GetUtcNow() + timeToLive);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<GroupMember>> GetMembersAsync(string group, CancellationToken cancellationToken = default)
    {
        ChannelGroups.ValidateName(group);
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var expired in _nodes.Where(n => n.Value.ExpiresAt <= now).Select(n => n.Key).ToList()) _nodes.Remove(expired);
            return ValueTask.FromResult<IReadOnlyList<GroupMember>>(
                [.. _nodes.Values.SelectMany(n => n.Members.GetValueOrDefault(group) ?? []).OrderBy(m => m.Since).ThenBy(m => m.Connection, StringComparer.Ordinal)]);
        }
    }

    /// <summary>
    /// Once per history window, forgets the groups nobody subscribes to whose history has run out, so a process that
    /// sent to many short-lived groups (one per user) does not keep them all. A client that comes back to such a group
    /// is told to reload, as it would be for the expired history.
    /// </summary>
    private void SweepNowAndThen(DateTimeOffset now)
    {
        if (now < _nextSweep) return;
        _nextSweep = now + _options.HistoryWindow;
        foreach (var idle in _groups.Where(g => g.Value.Subscriptions.Count == 0 && now - g.Value.LastSentAt > _options.HistoryWindow).Select(g => g.Key).ToList())
            _groups.Remove(idle);
    }

    /// <summary>Groups held now (for tests).</summary>
    internal int GroupCount
    {
        get { lock (_gate) return _groups.Count; }
    }

    private Group GroupOf(string group)
    {
        if (!_groups.TryGetValue(group, out var g)) _groups[group] = g = new Group();
        return g;
    }

    private void Remove(ChannelSubscriber subscription)
    {
        lock (_gate)
        {
            if (_groups.TryGetValue(subscription.Group, out var g)) g.Subscriptions.Remove(subscription);
        }
    }
}
