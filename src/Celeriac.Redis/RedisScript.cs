using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// A Lua script run by its SHA1 (<c>EVALSHA</c>, computed once here, so a call sends 40 bytes instead of the script).
/// When the server does not know the script (first use, or after a restart or <c>SCRIPT FLUSH</c>), the call is sent
/// once more with the text, which also loads it.
/// </summary>
internal sealed class RedisScript(string text)
{
#pragma warning disable CA5350 // SHA1 is what Redis names scripts by; not used for security.
    private readonly byte[] _hash = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350

    public string Text { get; } = text;

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            return await db.ScriptEvaluateAsync(_hash, keys, args).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await db.ScriptEvaluateAsync(Text, keys, args).ConfigureAwait(false);
        }
    }
}

internal static class RedisErrors
{
    /// <summary>Whether the server refused a command because its key holds another type (a damaged record).</summary>
    public static bool IsWrongType(this Exception e) =>
        e is RedisServerException && e.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal);
}
