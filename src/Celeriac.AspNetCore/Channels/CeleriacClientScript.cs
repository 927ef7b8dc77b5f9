using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Celeriac.AspNetCore.Channels;

/// <summary>The JavaScript client embedded in this assembly (<c>Client/celeriac.js</c>), served by <c>MapCeleriacClient</c>.</summary>
internal sealed class CeleriacClientScript
{
    public const string ResourceName = "Celeriac.AspNetCore.celeriac.js";

    private static readonly Lazy<CeleriacClientScript?> Embedded = new(Load);

    private CeleriacClientScript(byte[] content)
    {
        Content = content;
        ETag = $"\"{Convert.ToHexStringLower(SHA256.HashData(content), 0, 8)}\"";
    }

    public byte[] Content { get; }

    public string ETag { get; }

    /// <summary>The embedded script, or null when the assembly was built without it.</summary>
    public static CeleriacClientScript? Instance => Embedded.Value;

    private static CeleriacClientScript? Load()
    {
        using var stream = typeof(CeleriacClientScript).Assembly.GetManifestResourceStream(ResourceName);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return new CeleriacClientScript(copy.ToArray());
    }

    public static async Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        if (Instance is not { } script)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync("celeriac.js is not embedded in this build of Celeriac.AspNetCore (src/Celeriac.AspNetCore/Client/celeriac.js was missing when it was built).", context.RequestAborted).ConfigureAwait(false);
            return;
        }
        response.Headers.ETag = script.ETag;
        // Revalidate every time (a 304 while unchanged): the URL carries no version.
        response.Headers.CacheControl = "public, no-cache";
        response.Headers.XContentTypeOptions = "nosniff";
        if (context.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == script.ETag || t.Trim() == "*")))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        response.ContentType = "application/javascript; charset=utf-8";
        response.ContentLength = script.Content.Length;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await response.Body.WriteAsync(script.Content, context.RequestAborted).ConfigureAwait(false);
    }
}
