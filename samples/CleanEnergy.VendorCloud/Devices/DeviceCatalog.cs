using System.Globalization;
using System.Text.Json.Serialization;
using CleanEnergy.VendorCloud.Simulation;

namespace CleanEnergy.VendorCloud.Devices;

/// <summary>What a device is; serialized camelCase (<c>smartPlug</c>, <c>thermostat</c>, <c>evCharger</c>, <c>light</c>).</summary>
internal enum DeviceKind
{
    SmartPlug,
    Thermostat,
    EvCharger,
    Light,
}

/// <summary>The type of a reading's value, serialized as <c>number</c>, <c>onoff</c>, <c>text</c> or <c>choice</c>.</summary>
internal enum ReadingKind
{
    [JsonStringEnumMemberName("number")] Number,
    [JsonStringEnumMemberName("onoff")] OnOff,
    [JsonStringEnumMemberName("text")] Text,
    [JsonStringEnumMemberName("choice")] Choice,
}

/// <summary>A device as the vendor registered it: its id, name, place, kind, rated draw when on, and state at start.</summary>
internal sealed record DeviceSpec(int Index, string VendorId, string Name, string Location, DeviceKind Kind, double RatedW, bool InitiallyOn);

/// <summary>The fleet the cloud starts with: six household devices, repeated with numbered names for bigger fleets.</summary>
internal static class DeviceCatalog
{
    private static readonly (string Name, string Location, DeviceKind Kind, double RatedW, bool On)[] Templates =
    [
        ("Living-room plug", "Living room", DeviceKind.SmartPlug, 140, true),     // TV and lamp
        ("Boiler", "Utility room", DeviceKind.Thermostat, 2400, true),            // electric boiler / heat pump
        ("Driveway charger", "Driveway", DeviceKind.EvCharger, 7200, false),      // 7.2 kW wallbox
        ("Dishwasher plug", "Kitchen", DeviceKind.SmartPlug, 1800, false),
        ("Porch light", "Porch", DeviceKind.Light, 12, false),
        ("Study heater", "Study", DeviceKind.Thermostat, 1500, false),
    ];

    public static IReadOnlyList<DeviceSpec> Create(int count, int seed)
    {
        var devices = new List<DeviceSpec>(count);
        for (var i = 0; i < count; i++)
        {
            var (name, location, kind, ratedW, on) = Templates[i % Templates.Length];
            var round = i / Templates.Length;
            if (round > 0)
            {
                name = string.Create(CultureInfo.InvariantCulture, $"{name} {round + 1}");
                // Later copies differ a little: a plug anywhere in 50-2000 W, the others within ±15 % of the template.
                var u = Noise.Unit(seed, i, -2);
                ratedW = kind == DeviceKind.SmartPlug ? Math.Round(50 + u * 1950) : Math.Round(ratedW * (0.85 + 0.3 * u));
            }
            devices.Add(new DeviceSpec(i, string.Create(CultureInfo.InvariantCulture, $"vx-{1001 + i}"), name, location, kind, ratedW, on));
        }
        return devices;
    }
}
