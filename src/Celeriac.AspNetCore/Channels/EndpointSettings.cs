using Microsoft.AspNetCore.Http;

namespace Celeriac.AspNetCore.Channels;

/// <summary>The settled <see cref="ConsumerOptions"/> of one consumer endpoint.</summary>
internal sealed class EndpointSettings
{
    private readonly HashSet<string> _origins;
    private readonly bool _anyOrigin;

    public EndpointSettings(ConsumerOptions options)
    {
        var check = new ChannelsOptions
        {
            AllowedOrigins = options.AllowedOrigins ?? [],
            MaxMessageBytes = options.MaxMessageBytes,
            SendQueueCapacity = options.SendQueueCapacity,
            WhenSendQueueFull = options.WhenSendQueueFull,
            KeepAliveInterval = options.KeepAliveInterval,
            SendTimeout = options.SendTimeout,
        };
        if (!check.IsValid(out var error)) throw new ArgumentException($"Consumer options: {error}", nameof(options));
        _anyOrigin = check.AllowedOrigins.Contains("*");
        _origins = new HashSet<string>(check.AllowedOrigins.Select(o => o.Trim().TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        MaxMessageBytes = options.MaxMessageBytes;
        SendQueueCapacity = options.SendQueueCapacity;
        WhenFull = options.WhenSendQueueFull;
        KeepAliveInterval = options.KeepAliveInterval;
        SendTimeout = options.SendTimeout;
    }

    public int MaxMessageBytes { get; }

    public int SendQueueCapacity { get; }

    public SendQueueFullMode WhenFull { get; }

    public TimeSpan KeepAliveInterval { get; }

    public TimeSpan SendTimeout { get; }

    /// <summary>
    /// Group messages waiting for a busy consumer before they are dropped (or the connection closed): a guard against
    /// a handler that stalls, as the send queue is against a client that stalls.
    /// </summary>
    public int InboxCapacity => Math.Max(1024, SendQueueCapacity * 4);

    /// <summary>No <c>Origin</c> (not a browser), the request's own origin, or a listed one.</summary>
    public bool IsOriginAllowed(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0 || _anyOrigin) return true;
        if (_origins.Contains(origin.TrimEnd('/'))) return true;
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri)) return false;
        var host = request.Host;
        if (!host.HasValue) return false;
        var port = host.Port ?? (string.Equals(request.Scheme, "https", StringComparison.OrdinalIgnoreCase) ? 443 : 80);
        return string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.IdnHost.Trim('[', ']'), host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
            && uri.Port == port;
    }
}
