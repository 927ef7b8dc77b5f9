using CleanEnergy.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace CleanEnergy.Tests;

/// <summary>
/// What only PostgreSQL has to prove: the app creates its database and schema at start as it does on SQLite, also when
/// several processes start together on a database that does not exist yet, and the schema is what the model says.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStartupTests(PostgresServer postgres)
{
    [Fact]
    public async Task Processes_starting_together_on_a_missing_database_create_it_and_its_schema_once_and_a_restart_keeps_the_data()
    {
        var connectionString = postgres.ConnectionString(PostgresServer.NewDatabaseName());
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:Energy"] = connectionString };

        // Three processes (web, worker, beat) starting at once: each finds no database, creates it, creates the schema,
        // seeds the users and imports the devices; the losers of each race retry or find the winner's rows.
        var starts = Enumerable.Range(0, 3).Select(_ => Task.Run(() => EnergyTestApp.StartAsync(settings: settings))).ToList();
        try
        {
            var apps = await Task.WhenAll(starts);
            foreach (var app in apps)
            {
                Assert.Equal(["vx-1001", "vx-1002", "vx-1003", "vx-1004", "vx-1005", "vx-1006"], (await app.DevicesAsync()).Select(d => d.VendorId));
                Assert.Equal(["alice", "bob"], await app.WithDbAsync(db => db.Users.OrderBy(u => u.UserName).Select(u => u.UserName).ToListAsync()));
            }
            var power = await apps[1].RunOkAsync<Devices.PollResult>("devices.poll", new { deviceId = (await apps[0].DevicesAsync())[0].Id });
            Assert.True(power.Stored > 0);
        }
        finally
        {
            foreach (var start in starts)
                if (start.IsCompletedSuccessfully) await (await start).DisposeAsync();
        }

        // A restart on the existing database: the schema is kept (EnsureCreated does nothing), nothing is seeded twice.
        await using (var again = await EnergyTestApp.StartAsync(settings: settings))
        {
            Assert.Equal(6, (await again.DevicesAsync()).Count);
            Assert.Equal(2, await again.WithDbAsync(db => db.Users.CountAsync()));
            Assert.True(await again.WithDbAsync(db => db.Observations.CountAsync()) > 0);
        }

        // The schema: snake_case tables, times as timestamptz (UTC), and the idempotency key as a unique index.
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        var tables = await QueryAsync(connection, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
        Assert.Equal(["devices", "hourly_aggregates", "interactions", "observations", "users"], tables);
        var timeTypes = await QueryAsync(connection, """
            SELECT DISTINCT data_type FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name IN ('time', 'at', 'hour', 'reachable_since', 'last_seen_at', 'updated_at', 'last_login_at')
            """);
        Assert.Equal(["timestamp with time zone"], timeTypes);
        var unique = await QueryAsync(connection, "SELECT indexdef FROM pg_indexes WHERE tablename = 'observations' AND indexdef LIKE 'CREATE UNIQUE%'");
        Assert.Contains(unique, d => d.EndsWith("(source, name, \"time\")", StringComparison.Ordinal));
    }

    private static async Task<List<string>> QueryAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
        return rows;
    }
}
