namespace Celeriac;

/// <summary>
/// Defaults for every WebSocket consumer of this process (configuration section <c>Celeriac:Channels:WebSockets</c>);
/// <see cref="ConsumerOptions"/> of one <c>MapConsumer</c> override them.
/// </summary>
public sealed class ChannelsOptions
{
    /// <summary>
    /// Browser origins (<c>https://app.example.com</c>) allowed besides the request's own origin; <c>*</c> allows any.
    /// Requests without an <c>Origin</c> header (non-browser clients) are always allowed. Default: none.
    /// </summary>
    public IList<string> AllowedOrigins { get; set; } = [];

    /// <summary>Largest message a client may send, in bytes; a bigger one closes the connection with 1009. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Frames waiting to be written to one connection. Default 256.</summary>
    public int SendQueueCapacity { get; set; } = 256;

    /// <summary>What happens when a connection's send queue is full. Default <see cref="SendQueueFullMode.DropOldest"/>.</summary>
    public SendQueueFullMode WhenSendQueueFull { get; set; } = SendQueueFullMode.DropOldest;

    /// <summary>
    /// How often the server pings an idle connection; a peer that does not answer within the same interval is
    /// disconnected. <see cref="TimeSpan.Zero"/> turns pings off. Default 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long writing one frame to a connection may take. A client that stays connected but stops reading (its
    /// network buffers full; a browser still answers pings, so keep-alive does not notice) is aborted after this, and
    /// its consumer gets <c>OnDisconnectAsync(null)</c>. <see cref="TimeSpan.Zero"/> turns it off. Default 60 seconds.
    /// </summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How often this web process reports its group members to the channel layer; a report is kept for three
    /// intervals, so the members of a process that died disappear within that. Default 10 seconds.
    /// </summary>
    public TimeSpan MembershipReportInterval { get; set; } = TimeSpan.FromSeconds(10);

    internal bool IsValid(out string error)
    {
        error = MaxMessageBytes <= 0 ? "MaxMessageBytes must be positive."
            : SendQueueCapacity <= 0 ? "SendQueueCapacity must be positive."
            : KeepAliveInterval < TimeSpan.Zero ? "KeepAliveInterval may not be negative."
            : SendTimeout < TimeSpan.Zero ? "SendTimeout may not be negative."
            : MembershipReportInterval <= TimeSpan.Zero ? "MembershipReportInterval must be positive."
            : !Enum.IsDefined(WhenSendQueueFull) ? $"WhenSendQueueFull '{WhenSendQueueFull}' is not a mode."
            : AllowedOrigins is null || AllowedOrigins.Any(string.IsNullOrWhiteSpace) ? "AllowedOrigins must be a list without empty entries."
            : "";
        return error.Length == 0;
    }
}

/// <summary>
/// Settings of one consumer endpoint (<c>MapConsumer</c>): they start as the process-wide <see cref="ChannelsOptions"/>
/// and the configure callback changes them.
/// </summary>
public sealed class ConsumerOptions
{
    internal ConsumerOptions(ChannelsOptions defaults)
    {
        AllowedOrigins = [.. defaults.AllowedOrigins];
        MaxMessageBytes = defaults.MaxMessageBytes;
        SendQueueCapacity = defaults.SendQueueCapacity;
        WhenSendQueueFull = defaults.WhenSendQueueFull;
        KeepAliveInterval = defaults.KeepAliveInterval;
        SendTimeout = defaults.SendTimeout;
    }

    /// <inheritdoc cref="ChannelsOptions.AllowedOrigins"/>
    public IList<string> AllowedOrigins { get; set; }

    /// <inheritdoc cref="ChannelsOptions.MaxMessageBytes"/>
    public int MaxMessageBytes { get; set; }

    /// <inheritdoc cref="ChannelsOptions.SendQueueCapacity"/>
    public int SendQueueCapacity { get; set; }

    /// <inheritdoc cref="ChannelsOptions.WhenSendQueueFull"/>
    public SendQueueFullMode WhenSendQueueFull { get; set; }

    /// <inheritdoc cref="ChannelsOptions.KeepAliveInterval"/>
    public TimeSpan KeepAliveInterval { get; set; }

    /// <inheritdoc cref="ChannelsOptions.SendTimeout"/>
    public TimeSpan SendTimeout { get; set; }
}

/// <summary>What a connection does when its send queue is full (the client reads slower than the server sends).</summary>
public enum SendQueueFullMode
{
    /// <summary>
    /// Drop the oldest queued frames, count them (log and metric) and tell the client with a
    /// <c>{"celeriac":"dropped","count":N}</c> frame as soon as it reads again; it resumes from its group offsets.
    /// </summary>
    DropOldest,

    /// <summary>Close the connection with 1013 (try again later).</summary>
    Close,
}
