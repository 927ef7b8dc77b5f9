using System.Runtime.InteropServices;

namespace Celeriac.Hosting.CommandLine;

/// <summary>
/// A token that fires on the first Ctrl-C (SIGINT), SIGTERM or SIGQUIT, or when the caller's token fires. The first
/// signal is absorbed so the command can stop gracefully; a second one is left to the runtime, which ends the process.
/// Used by the commands that do not start the host (the host's own lifetime handles signals for <c>all</c> and <c>web</c>).
/// </summary>
internal sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly List<PosixSignalRegistration> _registrations = [];

    public ShutdownSignal(CancellationToken external)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(external);
        foreach (var signal in (PosixSignal[])[PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT])
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
            }
            catch (PlatformNotSupportedException)
            {
                // SIGQUIT does not exist on Windows; SIGINT and SIGTERM do.
            }
        }
    }

    public CancellationToken Token => _source.Token;

    private void OnSignal(PosixSignalContext context)
    {
        if (_source.IsCancellationRequested) return;
        context.Cancel = true;
        _source.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _source.Dispose();
    }
}
