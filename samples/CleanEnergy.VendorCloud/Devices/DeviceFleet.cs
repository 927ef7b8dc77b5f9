using System.Collections.Frozen;

namespace CleanEnergy.VendorCloud.Devices;

/// <summary>The cloud's devices by vendor id (ordinal, case-sensitive), in catalogue order.</summary>
internal sealed class DeviceFleet
{
    private readonly FrozenDictionary<string, SimulatedDevice> _byId;

    public DeviceFleet(IEnumerable<DeviceSpec> specs, int seed, TimeProvider time)
    {
        Time = time;
        var now = time.GetUtcNow();
        All = [.. specs.Select(s => new SimulatedDevice(s, seed, now))];
        _byId = All.ToFrozenDictionary(d => d.VendorId, StringComparer.Ordinal);
        Ids = _byId.Keys.ToFrozenSet(StringComparer.Ordinal);
    }

    public TimeProvider Time { get; }

    public IReadOnlyList<SimulatedDevice> All { get; }

    public IReadOnlySet<string> Ids { get; }

    public SimulatedDevice? Find(string vendorId) => _byId.GetValueOrDefault(vendorId);
}
