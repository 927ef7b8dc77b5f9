using CleanEnergy.VendorCloud.Trouble;

namespace CleanEnergy.VendorCloud;

/// <summary>
/// A vendor cloud started in-process by <see cref="VendorCloudServer.StartAsync"/>: where it listens, its live
/// controls, and its call log. Disposing stops the server (in-flight calls are cut short) and frees the port.
/// </summary>
public sealed class VendorCloudHandle : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CallLog _calls;
    private int _disposed;

    internal VendorCloudHandle(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Trouble = app.Services.GetRequiredService<TroubleControl>();
        Grid = app.Services.GetRequiredService<GridControl>();
        _calls = app.Services.GetRequiredService<CallLog>();
    }

    /// <summary>The bound base address, ending in <c>/</c>, e.g. <c>http://127.0.0.1:41237/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The trouble settings (the same ones <c>/admin/trouble</c> reads and changes).</summary>
    public TroubleControl Trouble { get; }

    /// <summary>The grid signal and its override (the same as <c>/admin/grid</c>).</summary>
    public GridControl Grid { get; }

    /// <summary>The kept API calls, oldest first (the same as <c>GET /admin/calls</c>).</summary>
    public IReadOnlyList<CallRecord> GetCalls() => _calls.Snapshot().Calls;

    /// <summary>Stops the server and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(deadline.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
