using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.AspNetCore.Channels;

/// <summary>
/// This process's side of the channel layer: per group the local connections, and one layer subscription per group
/// while it has any (disposed when the last leaves), whose callback posts each message into every member's inbox.
/// </summary>
/// <remarks>
/// Lifecycle: a hosted service. While it runs it reports the local members to the layer
/// (<see cref="IChannelLayer.ReportMembersAsync"/>, kept for three report intervals) every
/// <see cref="ChannelsOptions.MembershipReportInterval"/> and soon after a change; on stop it reports none, and
/// the application's stopping token closes every connection with 1001.
/// </remarks>
internal sealed partial class ChannelsNode(IChannelLayer layer, IHostApplicationLifetime lifetime, TimeProvider time, IOptions<ChannelsOptions> options, ILogger<ChannelsNode> logger) : BackgroundService, Celeriac.Operations.IPresenceContributor
{
    private readonly TimeSpan _reportInterval = options.Value.MembershipReportInterval;
    private readonly TimeSpan _reportDebounce = TimeSpan.FromMilliseconds(Math.Min(1000, options.Value.MembershipReportInterval.TotalMilliseconds / 4));
    private readonly TimeSpan _membersTimeToLive = options.Value.MembershipReportInterval * 3;

    private sealed class LocalGroup(string name)
    {
        public string Name { get; } = name;
        public Dictionary<ConsumerConnection, DateTimeOffset> Members { get; } = [];
        public ConsumerConnection[]? Snapshot { get; set; }
        public Task<IAsyncDisposable>? Subscription { get; set; }
    }

    private readonly Lock _gate = new();
    private readonly Dictionary<string, LocalGroup> _groups = new(StringComparer.Ordinal);
    private readonly Channel<bool> _changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private long _connections;
    private bool _reportedEmpty = true;

    /// <summary>This process in the layer's member lists: machine, process id and a random suffix.</summary>
    public string Id { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    /// <summary>Fires when the application stops: connections close with 1001.</summary>
    public CancellationToken Stopping => lifetime.ApplicationStopping;

    private volatile bool _serving;

    /// <summary><c>web</c> while this node runs (the host serves); for the process's heartbeat.</summary>
    public string? Role => _serving ? "web" : null;

    /// <summary>Each group with members in this process, and how many.</summary>
    internal IReadOnlyDictionary<string, int> LocalGroupCounts()
    {
        lock (_gate)
        {
            var counts = new Dictionary<string, int>(_groups.Count, StringComparer.Ordinal);
            foreach (var (name, group) in _groups)
                if (group.Members.Count > 0) counts[name] = group.Members.Count;
            return counts;
        }
    }

    IReadOnlyDictionary<string, int> Celeriac.Operations.IPresenceContributor.LocalGroupCounts() => LocalGroupCounts();

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _serving = true;
        return base.StartAsync(cancellationToken);
    }

    public string NewConnectionId() => $"{Id}:{Interlocked.Increment(ref _connections)}";

    /// <summary>Adds a member; returns once the layer subscription of the group is active.</summary>
    public async ValueTask AddAsync(string group, ConsumerConnection connection, DateTimeOffset since, CancellationToken cancellationToken)
    {
        LocalGroup local;
        TaskCompletionSource<IAsyncDisposable>? subscribing = null;
        lock (_gate)
        {
            if (!_groups.TryGetValue(group, out local!))
            {
                _groups[group] = local = new LocalGroup(group);
                subscribing = new TaskCompletionSource<IAsyncDisposable>(TaskCreationOptions.RunContinuationsAsynchronously);
                local.Subscription = subscribing.Task;
            }
            local.Members[connection] = since;
            local.Snapshot = null;
        }
        if (subscribing is not null)
        {
            try
            {
                var target = local;
                subscribing.SetResult(await layer.SubscribeAsync(group, m => DeliverAsync(target, m), CancellationToken.None).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                subscribing.SetException(e);
            }
        }
        Changed();
        try
        {
            await local.Subscription!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                local.Members.Remove(connection);
                local.Snapshot = null;
                if (local.Subscription!.IsFaulted && _groups.GetValueOrDefault(group) == local) _groups.Remove(group);
            }
            throw;
        }
    }

    /// <summary>Removes a member; the last one out disposes the group's subscription.</summary>
    public async ValueTask RemoveAsync(string group, ConsumerConnection connection)
    {
        Task<IAsyncDisposable>? subscription = null;
        lock (_gate)
        {
            if (!_groups.TryGetValue(group, out var local) || !local.Members.Remove(connection)) return;
            local.Snapshot = null;
            if (local.Members.Count == 0)
            {
                _groups.Remove(group);
                subscription = local.Subscription;
            }
        }
        Changed();
        if (subscription is null) return;
        try
        {
            await (await subscription.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogUnsubscribeFailed(logger, e, group);
        }
    }

    /// <summary>How many connections of this process are in <paramref name="group"/> now.</summary>
    internal int LocalMemberCount(string group)
    {
        lock (_gate) return _groups.TryGetValue(group, out var local) ? local.Members.Count : 0;
    }

    private ValueTask DeliverAsync(LocalGroup local, GroupMessage message)
    {
        var members = local.Snapshot;
        if (members is null)
        {
            lock (_gate) members = local.Snapshot ??= [.. local.Members.Keys];
        }
        foreach (var member in members) member.PostGroupMessage(message);
        return ValueTask.CompletedTask;
    }

    private void Changed() => _changed.Writer.TryWrite(true);

    private IReadOnlyDictionary<string, IReadOnlyList<GroupMember>> Members()
    {
        lock (_gate)
        {
            return _groups.Values.ToDictionary(
                g => g.Name,
                g => (IReadOnlyList<GroupMember>)[.. g.Members.Select(m => new GroupMember(Id, m.Key.Id, m.Key.UserName, m.Value))],
                StringComparer.Ordinal);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Task<bool>? changed = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                changed ??= _changed.Reader.WaitToReadAsync(stoppingToken).AsTask();
                var period = Task.Delay(_reportInterval, time, stoppingToken);
                if (await Task.WhenAny(changed, period).ConfigureAwait(false) == changed)
                {
                    await changed.ConfigureAwait(false);
                    changed = null;
                    await Task.Delay(_reportDebounce, time, stoppingToken).ConfigureAwait(false);
                    _changed.Reader.TryRead(out _);
                }
                await ReportAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogReportFailed(logger, e);
            }
        }
    }

    private async Task ReportAsync(CancellationToken cancellationToken)
    {
        var members = Members();
        // A node that never held members (or reported none last time) need not repeat it.
        if (members.Count == 0 && _reportedEmpty) return;
        await layer.ReportMembersAsync(Id, members, _membersTimeToLive, cancellationToken).ConfigureAwait(false);
        _reportedEmpty = members.Count == 0;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _serving = false;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_reportedEmpty) await layer.ReportMembersAsync(Id, new Dictionary<string, IReadOnlyList<GroupMember>>(), _membersTimeToLive, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogReportFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reporting this node's WebSocket group members to the channel layer failed; retrying")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unsubscribing from channel group {Group} failed")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception, string group);
}
