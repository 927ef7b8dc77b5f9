using Celeriac.Transport;

namespace Celeriac.Memory;

/// <summary>Key leases in a dictionary, for one process.</summary>
internal sealed class InMemoryLockProvider(TimeProvider time) : ILockProvider
{
    private readonly Dictionary<string, (string Token, DateTimeOffset Until)> _held = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ValueTask<string?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_held.TryGetValue(key, out var holder) && holder.Until > now) return ValueTask.FromResult<string?>(null);
            var token = Guid.NewGuid().ToString("N");
            _held[key] = (token, now + lease);
            return ValueTask.FromResult<string?>(token);
        }
    }

    public ValueTask<bool> RenewAsync(string key, string token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_held.TryGetValue(key, out var holder) || holder.Token != token || holder.Until <= now) return ValueTask.FromResult(false);
            _held[key] = (token, now + lease);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<bool> ReleaseAsync(string key, string token, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_held.TryGetValue(key, out var holder) || holder.Token != token) return ValueTask.FromResult(false);
            _held.Remove(key);
            return ValueTask.FromResult(true);
        }
    }
}
