using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Names of every key and channel, from <see cref="RedisOptions.KeyPrefix"/>. Transport keys share one hash tag
/// (so every transport script touches a single cluster slot); result and lock keys are single-key operations and
/// carry no tag, so a cluster spreads them.
/// </summary>
internal sealed class RedisKeys
{
    public RedisKeys(string prefix)
    {
        Prefix = prefix;
        Transport = HasHashTag(prefix) ? prefix : prefix + "{" + TagOf(prefix) + "}:";
        Sequence = Transport + "seq";
        QueueChannelPrefix = prefix + "n:";
        ResultChannel = RedisChannel.Literal(prefix + "r");
        Subscriptions = Transport + "subscriptions";
        EventChannel = prefix + "e";
        GroupChannelPrefix = prefix + "g:";
        MemberNodes = Transport + "nodes";
        MemberNodePrefix = Transport + "node:";
        Processes = Transport + "processes";
        ProcessExpiry = Transport + "processes:expiry";
        RecentTasks = Transport + "tasks:recent";
        TaskLatest = Transport + "tasks:latest";
        TaskExpiry = Transport + "tasks:expiry";
    }

    /// <summary>Process heartbeats: a hash, process id → its record (JSON).</summary>
    public RedisKey Processes { get; }

    /// <summary>When each heartbeat runs out: a sorted set, process id → Unix ms (client clock).</summary>
    public RedisKey ProcessExpiry { get; }

    /// <summary>The task journal's index: a sorted set, task id → Unix ms of its latest event.</summary>
    public RedisKey RecentTasks { get; }

    /// <summary>Each journalled task's latest event: a hash, task id → record (JSON).</summary>
    public RedisKey TaskLatest { get; }

    /// <summary>When each journalled task's story runs out: a sorted set, task id → Unix ms (client clock).</summary>
    public RedisKey TaskExpiry { get; }

    /// <summary>One task's story, oldest event first: a list, <c>T task:&lt;id&gt;:events</c>.</summary>
    public RedisKey TaskEvents(string taskId) => Transport + "task:" + taskId + ":events";

    /// <summary>The configured prefix (results, locks, channels).</summary>
    public string Prefix { get; }

    /// <summary>Prefix of the transport keys, with the hash tag: <c>celeriac:{celeriac}:</c>.</summary>
    public string Transport { get; }

    /// <summary>The message sequence counter; also the key every transport script declares (cluster routing).</summary>
    public RedisKey Sequence { get; }

    /// <summary>Prefix of the per-queue notification channels (<c>celeriac:n:&lt;queue&gt;</c>).</summary>
    public string QueueChannelPrefix { get; }

    /// <summary>Channel on which terminal results are announced, with the task id as message.</summary>
    public RedisChannel ResultChannel { get; }

    /// <summary>The durable subscriptions: a hash, name → JSON (pattern, queue, created-at). Under the transport's hash tag: publish reads it in the enqueue script.</summary>
    public RedisKey Subscriptions { get; }

    /// <summary>Channel on which every published event goes to live listeners (<c>celeriac:e</c>).</summary>
    public string EventChannel { get; }

    /// <summary>Prefix of the channel-layer group channels (<c>celeriac:g:&lt;group&gt;</c>).</summary>
    public string GroupChannelPrefix { get; }

    /// <summary>
    /// Registry of the channel layer's nodes (web processes that report group members): a sorted set, node → the
    /// Unix ms (client clock) its last report runs out. Under the transport's hash tag, with the node hashes.
    /// </summary>
    public RedisKey MemberNodes { get; }

    /// <summary>Prefix of the per-node member hashes (<c>T node:&lt;node&gt;</c>: group → JSON array of its members there).</summary>
    public string MemberNodePrefix { get; }

    /// <summary>The channel a group's messages are published on (<c>celeriac:g:&lt;group&gt;</c>).</summary>
    public RedisChannel GroupChannel(string group) => RedisChannel.Literal(GroupChannelPrefix + group);

    /// <summary>
    /// A group's offset counter (never expires): <c>celeriac:g:{&lt;group&gt;}:o</c>. The group name is the hash tag, so a
    /// cluster spreads groups over its slots while each group's two keys share one (group names hold no braces).
    /// </summary>
    public RedisKey GroupOffset(string group) => Prefix + "g:{" + group + "}:o";

    /// <summary>A group's recent messages (a list, oldest first, expiring a history window after the last send): <c>celeriac:g:{&lt;group&gt;}:h</c>.</summary>
    public RedisKey GroupHistory(string group) => Prefix + "g:{" + group + "}:h";

    /// <summary>The member hash of one node: <c>T node:&lt;node&gt;</c>.</summary>
    public RedisKey MemberNode(string node) => MemberNodePrefix + node;

    public RedisChannel QueueChannel(string queue) => RedisChannel.Literal(QueueChannelPrefix + queue);

    public RedisKey Result(string id) => Prefix + "result:" + id;

    public RedisKey Lock(string key) => Prefix + "lock:" + key;

    public static bool IsValidPrefix(string? prefix) =>
        !string.IsNullOrEmpty(prefix) && !prefix.Any(char.IsWhiteSpace);

    private static bool HasHashTag(string prefix)
    {
        var open = prefix.IndexOf('{', StringComparison.Ordinal);
        if (open < 0) return false;
        var close = prefix.IndexOf('}', open + 1);
        return close > open + 1;
    }

    private static string TagOf(string prefix)
    {
        var tag = prefix.Trim(':').Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal);
        return tag.Length == 0 ? "celeriac" : tag;
    }
}
