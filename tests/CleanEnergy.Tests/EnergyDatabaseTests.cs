namespace CleanEnergy.Tests;

/// <summary>
/// The base of the test classes that run against both application databases. Each is abstract with two one-line
/// subclasses below: one on SQLite (a temp file per test), one on PostgreSQL (a fresh database per test on the shared
/// <see cref="PostgresServer"/>). A test added to a base runs on both.
/// </summary>
public abstract class EnergyDatabaseTests(PostgresServer? postgres)
{
    /// <summary>The server of the PostgreSQL variant; null on SQLite.</summary>
    protected PostgresServer? Postgres { get; } = postgres;

    /// <summary>Starts the application on this class's database (see <see cref="EnergyTestApp.StartAsync"/>).</summary>
    private protected Task<EnergyTestApp> StartAppAsync(int maxRetries = 15, TimeProvider? vendorClock = null, IDictionary<string, string?>? settings = null) =>
        EnergyTestApp.StartAsync(maxRetries, vendorClock, settings, Postgres);
}

public sealed class SqliteDeviceTaskTests() : DeviceTaskTests(null);

[Collection(PostgresCollection.Name)]
public sealed class PostgresDeviceTaskTests(PostgresServer postgres) : DeviceTaskTests(postgres);

public sealed class SqliteRollupTests() : RollupTests(null);

[Collection(PostgresCollection.Name)]
public sealed class PostgresRollupTests(PostgresServer postgres) : RollupTests(postgres);

public sealed class SqliteUserReplicationTests() : UserReplicationTests(null);

[Collection(PostgresCollection.Name)]
public sealed class PostgresUserReplicationTests(PostgresServer postgres) : UserReplicationTests(postgres);

public sealed class SqliteVendorTroubleTests() : VendorTroubleTests(null);

[Collection(PostgresCollection.Name)]
public sealed class PostgresVendorTroubleTests(PostgresServer postgres) : VendorTroubleTests(postgres);
