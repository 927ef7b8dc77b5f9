namespace Celeriac.Transport;

/// <summary>
/// Leases on named keys: at most one holder per key at a time, across every process that shares the store. A holder
/// proves itself with the token it got; a holder that dies loses the lease when it runs out. Used for per-key task
/// locks (<see cref="TaskBuilder.Lock"/>) and for electing one scheduler.
/// </summary>
public interface ILockProvider
{
    /// <summary>Takes <paramref name="key"/> for <paramref name="lease"/> when it is free (or its lease ran out). Returns the holder's token, or <see langword="null"/> when another holds it.</summary>
    ValueTask<string?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Extends a lease still held with <paramref name="token"/>. Returns <see langword="false"/> when it was lost.</summary>
    ValueTask<bool> RenewAsync(string key, string token, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Frees <paramref name="key"/> when it is still held with <paramref name="token"/>. Returns whether it was.</summary>
    ValueTask<bool> ReleaseAsync(string key, string token, CancellationToken cancellationToken = default);
}
