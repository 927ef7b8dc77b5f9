using Celeriac;

/// <summary>What both benchmarks share: the store to run on, its clean-up, and percentiles.</summary>
internal static class BenchStore
{
    /// <summary>Uses <paramref name="transport"/> (memory, sqlite or redis). Redis runs get a fresh key prefix, so runs on one server never see each other's keys.</summary>
    public static void Use(CeleriacBuilder c, string transport, string sqlitePath, string redis) =>
        _ = transport switch
        {
            "memory" => c.UseInMemory(),
            "sqlite" => c.UseSqlite(sqlitePath),
            "redis" => c.UseRedis(redis, o => o.KeyPrefix = $"bench-{Guid.NewGuid():N}:"),
            _ => throw new ArgumentException($"Unknown transport '{transport}': use memory, sqlite or redis."),
        };

    /// <summary>A new temp path for a SQLite file.</summary>
    public static string TempDatabase(string name) => Path.Combine(Path.GetTempPath(), $"{name}-{Guid.NewGuid():N}.db");

    /// <summary>Deletes a SQLite file with its WAL and shared-memory files.</summary>
    public static void DeleteDatabase(string path)
    {
        foreach (var f in new[] { path, path + "-wal", path + "-shm" }) File.Delete(f);
    }

    /// <summary>The <paramref name="p"/> quantile of sorted samples (nearest rank).</summary>
    public static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
