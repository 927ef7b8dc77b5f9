using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace Celeriac.Operations;

/// <summary>
/// This process as the operations view sees it: its id (<c>{host}:{pid}:{random}</c>, new for every run), host, pid,
/// the app's version, when it started, and the roles running in it now (a worker loop and a beat loop mark theirs
/// while they run). <see cref="Poke"/> asks for a heartbeat now, when something an operator sees has changed.
/// </summary>
internal sealed class LocalProcess
{
    private readonly ConcurrentDictionary<string, int> _roles = new(StringComparer.Ordinal);
    private readonly Channel<bool> _pokes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public LocalProcess(TimeProvider time)
    {
        Host = Environment.MachineName;
        Pid = Environment.ProcessId;
        Id = $"{Host}:{Pid}:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        StartedAt = time.GetUtcNow();
        var entry = Assembly.GetEntryAssembly();
        var version = entry?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? entry?.GetName().Version?.ToString() ?? "0.0.0";
        // The SDK appends the commit ("1.2.0+abc123…"); the short form is enough to tell deployments apart.
        Version = version.Split('+') is [var semver, var commit, ..] && commit.Length > 12 ? $"{semver}+{commit[..12]}" : version;
    }

    public string Id { get; }
    public string Host { get; }
    public int Pid { get; }
    public string Version { get; }
    public DateTimeOffset StartedAt { get; }

    /// <summary>The roles running now, from the loops that marked them (<see cref="Enter"/>).</summary>
    public IReadOnlyCollection<string> Roles => [.. _roles.Where(r => r.Value > 0).Select(r => r.Key).Order(StringComparer.Ordinal)];

    /// <summary>Marks <paramref name="role"/> as running until the returned handle is disposed.</summary>
    public IDisposable Enter(string role)
    {
        _roles.AddOrUpdate(role, 1, (_, n) => n + 1);
        Poke();
        return new Leave(this, role);
    }

    /// <summary>Asks for a heartbeat now.</summary>
    public void Poke() => _pokes.Writer.TryWrite(true);

    /// <summary>Signalled by <see cref="Poke"/>.</summary>
    public ChannelReader<bool> Pokes => _pokes.Reader;

    private sealed class Leave(LocalProcess process, string role) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            process._roles.AddOrUpdate(role, 0, (_, n) => Math.Max(0, n - 1));
            process.Poke();
        }
    }
}

/// <summary>
/// Something outside the core that adds to this process's heartbeat: the web side (Celeriac.AspNetCore) adds the
/// <c>web</c> role while it serves and the WebSocket groups it holds members of.
/// </summary>
internal interface IPresenceContributor
{
    /// <summary>The role it runs now, or <see langword="null"/> when it does not run.</summary>
    string? Role { get; }

    /// <summary>Group → members held in this process (empty when none).</summary>
    IReadOnlyDictionary<string, int> LocalGroupCounts();
}
