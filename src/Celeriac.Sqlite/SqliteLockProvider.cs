using Celeriac.Transport;

namespace Celeriac.Sqlite;

/// <summary>
/// Key leases in the <c>locks</c> table: a row per held key with its holder's token and lease end. Taking a key is
/// one upsert that only overwrites a row whose lease ended, so every process sharing the file sees one holder.
/// </summary>
internal sealed class SqliteLockProvider(SqliteEngine engine) : ILockProvider
{
    private const string Acquire = """
        INSERT INTO locks(key, token, expires_at) VALUES(@key, @token, @until)
        ON CONFLICT(key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at WHERE locks.expires_at <= @now;
        """;
    private const string Renew = "UPDATE locks SET expires_at = @until WHERE key = @key AND token = @token AND expires_at > @now;";
    private const string Release = "DELETE FROM locks WHERE key = @key AND token = @token;";

    public async ValueTask<string?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var token = Guid.NewGuid().ToString("N");
        var taken = await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(Acquire, "@key", "@token", "@until", "@now");
            command.Set(0, r.key);
            command.Set(1, r.token);
            command.Set(2, w.NowMs + (long)r.lease.TotalMilliseconds);
            command.Set(3, w.NowMs);
            return command.ExecuteNonQuery() == 1;
        }, (key, token, lease), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        return taken ? token : null;
    }

    public async ValueTask<bool> RenewAsync(string key, string token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(Renew, "@until", "@key", "@token", "@now");
            command.Set(0, w.NowMs + (long)r.lease.TotalMilliseconds);
            command.Set(1, r.key);
            command.Set(2, r.token);
            command.Set(3, w.NowMs);
            return command.ExecuteNonQuery() == 1;
        }, (key, token, lease), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ReleaseAsync(string key, string token, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return await engine.WriteAsync(static (w, r) =>
        {
            var command = w.Db.Get(Release, "@key", "@token");
            command.Set(0, r.key);
            command.Set(1, r.token);
            return command.ExecuteNonQuery() == 1;
        }, (key, token), wakesReceivers: false, atomic: false, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
