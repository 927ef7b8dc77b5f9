namespace CleanEnergy.VendorCloud.Simulation;

/// <summary>
/// Repeatable noise: a value that depends only on (seed, stream, slot), so a device's power at a given time, or the
/// grid's intensity, is the same however often and in whatever order it is read. SplitMix64 finalizer.
/// </summary>
internal static class Noise
{
    /// <summary>A value in [0, 1).</summary>
    public static double Unit(int seed, long stream, long slot)
    {
        var x = (ulong)seed * 0x9E3779B97F4A7C15UL;
        x ^= (ulong)stream * 0xBF58476D1CE4E5B9UL + 0x632BE59BD9B14E5BUL;
        x = Mix(x);
        x ^= (ulong)slot * 0x94D049BB133111EBUL;
        x = Mix(x);
        return (x >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>A value in [-1, 1).</summary>
    public static double Signed(int seed, long stream, long slot) => Unit(seed, stream, slot) * 2 - 1;

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
