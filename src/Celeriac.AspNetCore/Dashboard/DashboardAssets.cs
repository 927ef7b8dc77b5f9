using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Celeriac.AspNetCore.Channels;
using Microsoft.AspNetCore.Http;

namespace Celeriac.AspNetCore.Dashboard;

/// <summary>
/// The page and its files, embedded in this assembly (<c>Dashboard/Assets</c>, uPlot vendored from npm). The page
/// links each file with <c>?v={hash}</c>: a file asked for with its current hash is cached for a year
/// (<c>immutable</c>); otherwise it is revalidated with its ETag. The page itself is never cached.
/// </summary>
internal sealed class DashboardAssets
{
    private const string Prefix = "Celeriac.AspNetCore.Dashboard.";

    private sealed record Asset(byte[] Content, string ContentType, string Hash);

    private readonly FrozenDictionary<string, Asset> _files;
    private readonly byte[] _index;

    private DashboardAssets(FrozenDictionary<string, Asset> files, byte[] index)
    {
        _files = files;
        _index = index;
    }

    public static DashboardAssets Load(string title)
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var files = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var name = resource[Prefix.Length..];
            files[name] = new Asset(copy.ToArray(), TypeOf(name), Convert.ToHexStringLower(SHA256.HashData(copy.ToArray()), 0, 8));
        }
        if (CeleriacClientScript.Instance is { } client)
            files["celeriac.js"] = new Asset(client.Content, TypeOf("celeriac.js"), Convert.ToHexStringLower(SHA256.HashData(client.Content), 0, 8));
        if (!files.Remove("index.html", out var page))
            throw new InvalidOperationException("The dashboard page is not embedded in this build of Celeriac.AspNetCore (Dashboard/Assets/index.html).");
        var html = Encoding.UTF8.GetString(page.Content).Replace("{{title}}", HtmlEncoder.Default.Encode(title), StringComparison.Ordinal);
        foreach (var (name, asset) in files) html = html.Replace("{{" + name + "}}", $"assets/{name}?v={asset.Hash}", StringComparison.Ordinal);
        return new DashboardAssets(files.ToFrozenDictionary(StringComparer.Ordinal), Encoding.UTF8.GetBytes(html));
    }

    private static string TypeOf(string name) => Path.GetExtension(name) switch
    {
        ".js" => "application/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    public async Task ServeIndexAsync(HttpContext context)
    {
        var response = context.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Frame-Options"] = "DENY";
        response.Headers["Referrer-Policy"] = "same-origin";
        response.Headers.ContentSecurityPolicy =
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        response.ContentLength = _index.Length;
        await response.Body.WriteAsync(_index, context.RequestAborted).ConfigureAwait(false);
    }

    public async Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        if (context.Request.RouteValues["name"] is not string name || !_files.TryGetValue(name, out var asset))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var etag = $"\"{asset.Hash}\"";
        response.Headers.ETag = etag;
        response.Headers.CacheControl = context.Request.Query["v"] == asset.Hash ? "public, max-age=31536000, immutable" : "public, no-cache";
        if (context.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == etag)))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Content.Length;
        await response.Body.WriteAsync(asset.Content, context.RequestAborted).ConfigureAwait(false);
    }
}
