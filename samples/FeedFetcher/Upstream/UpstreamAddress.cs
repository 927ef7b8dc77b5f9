using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace FeedFetcher.Upstream;

/// <summary>
/// Where the upstream endpoints are: <c>Upstream:BaseUrl</c> when set; else the address this process's server
/// actually listens on (any port, including one picked by the OS); else, in a process that runs no server (the
/// <c>worker</c> command), the configured <c>urls</c> (appsettings.json, <c>--urls</c> or <c>ASPNETCORE_URLS</c>),
/// which is where the web process listens.
/// </summary>
internal sealed class UpstreamAddress(IServer server, IConfiguration configuration)
{
    public Uri BaseUri
    {
        get
        {
            if (configuration["Upstream:BaseUrl"] is { Length: > 0 } configured)
                return new Uri(configured.EndsWith('/') ? configured : configured + "/");
            var listening = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var address = Pick(listening) ?? Pick(configuration["urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [])
                ?? "http://127.0.0.1:5080";
            return new Uri(Loopback(address).TrimEnd('/') + "/upstream/");
        }
    }

    private static string? Pick(ICollection<string> addresses) =>
        addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) ?? addresses.FirstOrDefault();

    /// <summary>A wildcard listen address (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>, <c>[::]</c>) is reached through loopback.</summary>
    private static string Loopback(string address)
    {
        foreach (var wildcard in (string[])["://*:", "://+:", "://0.0.0.0:", "://[::]:"])
            address = address.Replace(wildcard, "://localhost:", StringComparison.Ordinal);
        return address;
    }
}
