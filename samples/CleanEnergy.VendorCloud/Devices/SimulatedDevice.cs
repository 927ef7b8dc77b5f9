using System.Globalization;
using System.Text.Json;
using CleanEnergy.VendorCloud.Simulation;

namespace CleanEnergy.VendorCloud.Devices;

/// <summary>
/// One simulated device. Its state moves forward lazily: each read first steps the model from the last read to now
/// in one-minute steps (at most two days' worth), so the state depends on the clock, not on how often it is read.
/// <list type="bullet">
/// <item>Power when on: the rated draw × a kind-specific load factor × (1 + a slow drift of two sine waves with
/// per-device phases, ±13 %) ± 3 % noise held for ten-second slots. When off, or when there is nothing to do (a
/// charged car): standby, 0.5–1.1 W. Energy (kWh) integrates the power.</item>
/// <item>Thermostat: the room warms towards target + 0.5 °C (time constant 45 min) when on and cools towards
/// 12 °C (3 h) when off; the load factor falls from 1 to 0.15 as the room nears the target.</item>
/// <item>EV charger: a 60 kWh car charges at up to the rated power (90 % efficient), tapering over the last 20 % before
/// the charge limit; an hour after it is charged the car leaves and another arrives at 20–50 %.</item>
/// <item>Plug and light: constant load factor; a plug has an LED colour, a light a colour.</item>
/// </list>
/// Noise comes from <see cref="Noise"/>, keyed by seed, device and time slot, so one seed and one clock give the same
/// values. All members are thread-safe.
/// </summary>
internal sealed class SimulatedDevice
{
    public static readonly IReadOnlyList<string> LedColours = ["off", "white", "green", "amber", "red", "blue"];
    public static readonly IReadOnlyList<string> LightColours = ["warm-white", "cool-white", "red", "green", "blue", "amber"];

    private const double BatteryKWh = 60, ChargeEfficiency = 0.9, AmbientC = 12;
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxCatchUp = TimeSpan.FromDays(2);
    private static readonly TimeSpan ChargedStay = TimeSpan.FromHours(1);

    private readonly Lock _gate = new();
    private readonly int _seed;
    private readonly double _phase1, _phase2;
    private bool _on;
    private DateTimeOffset _updatedAt;
    private DateTimeOffset? _switchedAt;
    private double _energyKWh;
    private double _targetC = 21, _roomC = 17.5;
    private double _socPct, _chargeLimitPct = 100;
    private DateTimeOffset? _chargedSince;
    private long _session;
    private string _colour;

    public SimulatedDevice(DeviceSpec spec, int seed, DateTimeOffset now)
    {
        Spec = spec;
        _seed = seed;
        _on = spec.InitiallyOn;
        _updatedAt = now;
        _phase1 = Noise.Unit(seed, spec.Index, -3) * 2 * Math.PI;
        _phase2 = Noise.Unit(seed, spec.Index, -4) * 2 * Math.PI;
        _socPct = NewCarCharge(0);
        _colour = spec.Kind == DeviceKind.Light ? "warm-white" : "green";
    }

    public DeviceSpec Spec { get; }

    public string VendorId => Spec.VendorId;

    public DeviceStatus Read(DateTimeOffset now)
    {
        lock (_gate)
        {
            Advance(now);
            return Status(now);
        }
    }

    public DeviceSummary Summary(DateTimeOffset now, bool online)
    {
        lock (_gate)
        {
            Advance(now);
            return new DeviceSummary(Spec.VendorId, Spec.Name, Spec.Kind, Spec.Location, online, _on, Math.Round(PowerAt(now), 1));
        }
    }

    /// <summary>Switches on or off; switching to the state it is already in changes nothing (idempotent).</summary>
    public DeviceStatus Switch(bool on, DateTimeOffset now)
    {
        lock (_gate)
        {
            Advance(now);
            if (_on != on)
            {
                _on = on;
                _switchedAt = now;
            }
            return Status(now);
        }
    }

    /// <summary>The values <c>PUT …/settings</c> can change for this kind of device.</summary>
    public IReadOnlyList<string> SettingNames => Spec.Kind switch
    {
        DeviceKind.SmartPlug => ["ledColour"],
        DeviceKind.Thermostat => ["targetTemperature"],
        DeviceKind.EvCharger => ["chargeLimit"],
        DeviceKind.Light => ["colour"],
        _ => [],
    };

    /// <summary>
    /// Applies every setting in <paramref name="body"/> (a JSON object of name → value) or, when any is unknown or
    /// invalid, none; returns the errors by name, or <see langword="null"/> and the new status.
    /// </summary>
    public Dictionary<string, string[]>? TryApply(JsonElement body, DateTimeOffset now, out DeviceStatus? status)
    {
        status = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (body.ValueKind != JsonValueKind.Object || !body.EnumerateObject().Any())
        {
            errors["body"] = [$"send a JSON object of settings, e.g. {Example()}; this device's settings: {string.Join(", ", SettingNames)}"];
            return errors;
        }
        var changes = new List<Action>();
        foreach (var property in body.EnumerateObject())
        {
            var name = SettingNames.FirstOrDefault(n => string.Equals(n, property.Name, StringComparison.OrdinalIgnoreCase));
            var value = property.Value;
            string? error = null;
            switch (name)
            {
                case null:
                    error = $"unknown setting; this device's settings: {string.Join(", ", SettingNames)}";
                    break;
                case "targetTemperature":
                    if (Number(value, 5, 30, out var target, ref error)) changes.Add(() => _targetC = Math.Round(target, 1));
                    break;
                case "chargeLimit":
                    if (Number(value, 50, 100, out var limit, ref error)) changes.Add(() => _chargeLimitPct = Math.Round(limit));
                    break;
                case "ledColour":
                    if (Choice(value, LedColours, out var led, ref error)) changes.Add(() => _colour = led);
                    break;
                case "colour":
                    if (Choice(value, LightColours, out var colour, ref error)) changes.Add(() => _colour = colour);
                    break;
            }
            if (error is not null)
                errors[property.Name] = [error];
        }
        if (errors.Count > 0)
            return errors;
        lock (_gate)
        {
            Advance(now);
            foreach (var change in changes)
                change();
            status = Status(now);
        }
        return null;
    }

    private string Example() => Spec.Kind switch
    {
        DeviceKind.Thermostat => """{"targetTemperature": 20.5}""",
        DeviceKind.EvCharger => """{"chargeLimit": 80}""",
        DeviceKind.Light => """{"colour": "green"}""",
        _ => """{"ledColour": "amber"}""",
    };

    private static bool Number(JsonElement value, double min, double max, out double number, ref string? error)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out number) && number >= min && number <= max)
            return true;
        number = 0;
        error = string.Create(CultureInfo.InvariantCulture, $"must be a number from {min} to {max}");
        return false;
    }

    private static bool Choice(JsonElement value, IReadOnlyList<string> choices, out string choice, ref string? error)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        choice = choices.FirstOrDefault(c => string.Equals(c, text, StringComparison.OrdinalIgnoreCase)) ?? "";
        if (choice.Length > 0)
            return true;
        error = $"must be one of: {string.Join(", ", choices)}";
        return false;
    }

    private void Advance(DateTimeOffset now)
    {
        if (now <= _updatedAt)
            return;
        if (now - _updatedAt > MaxCatchUp)
            _updatedAt = now - MaxCatchUp;
        while (_updatedAt < now)
        {
            var step = now - _updatedAt < Step ? now - _updatedAt : Step;
            var hours = step.TotalHours;
            var powerW = PowerAt(_updatedAt);
            _energyKWh += powerW * hours / 1000;
            switch (Spec.Kind)
            {
                case DeviceKind.Thermostat:
                    var goal = _on ? _targetC + 0.5 : AmbientC;
                    _roomC = goal + (_roomC - goal) * Math.Exp(-hours / (_on ? 0.75 : 3.0));
                    break;
                case DeviceKind.EvCharger:
                    if (_on && _socPct < _chargeLimitPct)
                        _socPct = Math.Min(_chargeLimitPct, _socPct + powerW / 1000 * hours * ChargeEfficiency / BatteryKWh * 100);
                    if (_socPct >= _chargeLimitPct)
                    {
                        _chargedSince ??= _updatedAt;
                        if (_updatedAt + step - _chargedSince.Value >= ChargedStay)
                        {
                            _socPct = NewCarCharge(++_session);
                            _chargedSince = null;
                        }
                    }
                    else
                    {
                        _chargedSince = null;
                    }
                    break;
            }
            _updatedAt += step;
        }
    }

    private double NewCarCharge(long session) => Math.Round(20 + 30 * Noise.Unit(_seed, Spec.Index, 1_000 + session), 1);

    private double LoadFactor() => Spec.Kind switch
    {
        DeviceKind.Thermostat => Math.Clamp((_targetC + 0.5 - _roomC) / 2, 0.15, 1),
        DeviceKind.EvCharger => _socPct >= _chargeLimitPct ? 0 : Math.Clamp((_chargeLimitPct - _socPct) / 20, 0.1, 1),
        _ => 1,
    };

    private double PowerAt(DateTimeOffset at)
    {
        var seconds = at.ToUnixTimeMilliseconds() / 1000.0;
        var jitter = Noise.Signed(_seed, Spec.Index, (long)Math.Floor(seconds / 10));
        var factor = LoadFactor();
        if (!_on || factor <= 0)
            return 0.8 + 0.3 * jitter;
        var drift = 0.08 * Math.Sin(2 * Math.PI * seconds / 2_820 + _phase1) + 0.05 * Math.Sin(2 * Math.PI * seconds / 780 + _phase2);
        return Math.Max(1, Spec.RatedW * factor * (1 + drift + 0.03 * jitter));
    }

    private DeviceStatus Status(DateTimeOffset now)
    {
        var powerW = Math.Round(PowerAt(now), 1);
        var readings = new Dictionary<string, Reading>(StringComparer.Ordinal)
        {
            ["power"] = new(ReadingKind.OnOff, _on),
            ["powerW"] = new(ReadingKind.Number, powerW, "W"),
            ["energyKWh"] = new(ReadingKind.Number, Math.Round(_energyKWh, 3), "kWh"),
        };
        switch (Spec.Kind)
        {
            case DeviceKind.SmartPlug:
                readings["ledColour"] = new(ReadingKind.Choice, _colour, Choices: LedColours, Settable: true);
                break;
            case DeviceKind.Thermostat:
                readings["targetTemperature"] = new(ReadingKind.Number, _targetC, "°C", Settable: true, Min: 5, Max: 30);
                readings["roomTemperature"] = new(ReadingKind.Number, Math.Round(_roomC, 1), "°C");
                readings["display"] = new(ReadingKind.Text, ThermostatDisplay());
                break;
            case DeviceKind.EvCharger:
                readings["stateOfCharge"] = new(ReadingKind.Number, Math.Round(_socPct, 1), "%");
                readings["chargeLimit"] = new(ReadingKind.Number, _chargeLimitPct, "%", Settable: true, Min: 50, Max: 100);
                readings["display"] = new(ReadingKind.Text, ChargerDisplay(powerW));
                break;
            case DeviceKind.Light:
                readings["colour"] = new(ReadingKind.Choice, _colour, Choices: LightColours, Settable: true);
                break;
        }
        return new DeviceStatus(Spec.VendorId, Spec.Name, Spec.Kind, Spec.Location, _on, powerW, readings, now, _switchedAt);
    }

    private string ThermostatDisplay() => !_on
        ? string.Create(CultureInfo.InvariantCulture, $"Off · room {_roomC:0.0} °C")
        : _roomC < _targetC - 0.3
            ? string.Create(CultureInfo.InvariantCulture, $"Heating to {_targetC:0.0} °C · room {_roomC:0.0} °C")
            : string.Create(CultureInfo.InvariantCulture, $"Holding {_targetC:0.0} °C");

    private string ChargerDisplay(double powerW) => _socPct >= _chargeLimitPct
        ? string.Create(CultureInfo.InvariantCulture, $"Charged · {_socPct:0} %")
        : _on
            ? string.Create(CultureInfo.InvariantCulture, $"Charging {powerW / 1000:0.0} kW · {_socPct:0} %")
            : string.Create(CultureInfo.InvariantCulture, $"Paused · {_socPct:0} %");
}
