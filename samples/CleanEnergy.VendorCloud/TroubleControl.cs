namespace CleanEnergy.VendorCloud;

/// <summary>
/// The live trouble settings of a running vendor cloud: what <c>GET/PUT /admin/trouble</c> and
/// <c>PUT /admin/devices/{vendorId}/offline</c> read and change, reachable in-process from
/// <see cref="VendorCloudHandle.Trouble"/>. Thread-safe; a change applies to calls that start after it.
/// </summary>
public sealed class TroubleControl
{
    private readonly Lock _gate = new();
    private readonly Random _random;
    private readonly IReadOnlySet<string> _devices;
    private TroubleSettings _current;

    internal TroubleControl(TroubleSettings initial, IReadOnlySet<string> devices, int seed)
    {
        _devices = devices;
        _random = new Random(seed);
        _current = Checked(initial);
    }

    /// <summary>The settings now in force.</summary>
    public TroubleSettings Current
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>Replaces the settings.</summary>
    /// <exception cref="ArgumentException">A rate, delay or latency is out of range, or an offline device is unknown.</exception>
    public void Set(TroubleSettings settings)
    {
        var checkedSettings = Checked(settings);
        lock (_gate) _current = checkedSettings;
    }

    /// <summary>Changes the settings atomically, e.g. <c>Update(t =&gt; t with { FailureRate = 0.3 })</c>, and returns the result.</summary>
    /// <exception cref="ArgumentException">The result is invalid; the settings are left as they were.</exception>
    public TroubleSettings Update(Func<TroubleSettings, TroubleSettings> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_gate)
        {
            _current = Checked(change(_current));
            return _current;
        }
    }

    /// <summary>Takes one device offline or brings it back.</summary>
    /// <exception cref="ArgumentException">No device has <paramref name="vendorId"/>.</exception>
    public void SetOffline(string vendorId, bool offline)
    {
        ArgumentNullException.ThrowIfNull(vendorId);
        if (!_devices.Contains(vendorId))
            throw new ArgumentException($"No device has vendor id '{vendorId}'.", nameof(vendorId));
        Update(t => t with
        {
            OfflineDevices = offline
                ? [.. t.OfflineDevices.Append(vendorId).Distinct(StringComparer.Ordinal)]
                : [.. t.OfflineDevices.Where(id => !string.Equals(id, vendorId, StringComparison.Ordinal))],
        });
    }

    /// <summary>Whether the device with <paramref name="vendorId"/> is offline now.</summary>
    public bool IsOffline(string vendorId) => Current.OfflineDevices.Contains(vendorId, StringComparer.Ordinal);

    internal bool IsKnownDevice(string vendorId) => _devices.Contains(vendorId);

    /// <summary>
    /// Rolls the dice for one call under <paramref name="settings"/>. Every roll is drawn on every call, so one seed
    /// gives one sequence of outcomes for a sequence of calls whatever the rates.
    /// </summary>
    internal TroubleRoll Roll(TroubleSettings settings)
    {
        lock (_gate)
        {
            var latency = _random.Next(settings.LatencyMs.Min, settings.LatencyMs.Max + 1);
            var fail = _random.NextDouble() < settings.FailureRate;
            var status = FailureStatuses[_random.Next(FailureStatuses.Length)];
            var timeout = _random.NextDouble() < settings.TimeoutRate;
            return new TroubleRoll(TimeSpan.FromMilliseconds(latency), fail ? status : null, timeout);
        }
    }

    private static readonly int[] FailureStatuses = [StatusCodes.Status500InternalServerError, StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable];

    private TroubleSettings Checked(TroubleSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = settings.Validate(_devices).ToList();
        if (errors.Count > 0)
            throw new ArgumentException(string.Join(" ", errors), nameof(settings));
        // A private copy of the list, so a caller's array cannot change the settings behind the lock.
        return settings with { OfflineDevices = [.. settings.OfflineDevices.Distinct(StringComparer.Ordinal)] };
    }
}

/// <summary>What happens to one call: its added latency, a failure status, whether its answer is held back.</summary>
internal readonly record struct TroubleRoll(TimeSpan Latency, int? FailureStatus, bool Timeout);
