namespace Celeriac.Redis;

/// <summary>
/// Settings of the Redis transport, result store and lock provider. Set through <c>UseRedis(configuration, o => …)</c>;
/// the values in the <c>Celeriac:Redis</c> configuration section, when the host has configuration, are applied first.
/// </summary>
public sealed class RedisOptions
{
    /// <summary>
    /// The StackExchange.Redis configuration string, for example <c>127.0.0.1:6379</c> or
    /// <c>redis1:6379,redis2:6379,password=…,ssl=true</c>. Set by <c>UseRedis(configuration)</c>. Celeriac always sets
    /// <c>abortConnect=false</c> (start and keep reconnecting while the server is down) and fails commands at once
    /// while no connection is up, instead of queueing them. Default <c>127.0.0.1:6379</c>.
    /// </summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>
    /// Prefix of every key and channel Celeriac writes, so several apps can share one Redis. Keys of the transport
    /// also carry a hash tag made from it (<c>celeriac:{celeriac}:…</c>) so that they live in one cluster slot; a
    /// prefix that already holds a hash tag (<c>app:{app}:</c>) is used as it is. Default <c>celeriac:</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "celeriac:";
}
