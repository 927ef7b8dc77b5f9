using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Data;

/// <summary>Where the data lives: SQLite by default, PostgreSQL when <c>ConnectionStrings:Energy</c> starts with <c>Host=</c>.</summary>
internal static class EnergyDatabase
{
    /// <summary>The SQLite file used when <c>ConnectionStrings:Energy</c> is not set, relative to the content root.</summary>
    public const string DefaultSqlitePath = "data/energy.db";

    /// <summary>Whether <paramref name="connectionString"/> points at PostgreSQL (Npgsql's <c>Host=…</c> form).</summary>
    public static bool IsPostgres(string? connectionString) =>
        connectionString?.TrimStart().StartsWith("Host=", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>Configures <paramref name="options"/> for the configured database.</summary>
    public static void Configure(DbContextOptionsBuilder options, string? connectionString, string contentRoot)
    {
        if (IsPostgres(connectionString))
        {
            options.UseNpgsql(connectionString);
            return;
        }
        options.UseSqlite(SqliteConnectionString(connectionString, contentRoot));
    }

    /// <summary>
    /// The SQLite connection string: the configured one (a relative <c>Data Source</c> is read from the content root), else
    /// <see cref="DefaultSqlitePath"/>. The directory is created; a 30 s busy timeout lets web, worker and beat processes
    /// (and the worker's concurrent tasks) share the file.
    /// </summary>
    public static string SqliteConnectionString(string? connectionString, string contentRoot)
    {
        var builder = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(connectionString) ? $"Data Source={DefaultSqlitePath}" : connectionString);
        if (builder.DataSource is { Length: > 0 } source && source != ":memory:" && builder.Mode != SqliteOpenMode.Memory)
        {
            builder.DataSource = Path.GetFullPath(source, contentRoot);
            Directory.CreateDirectory(Path.GetDirectoryName(builder.DataSource)!);
        }
        if (builder.DefaultTimeout < 30) builder.DefaultTimeout = 30;
        return builder.ToString();
    }

    /// <summary>
    /// Creates the schema when the database has none. This is a sample: <c>EnsureCreated</c> keeps it to one command and
    /// no migrations; a real application would use EF Core migrations (EnsureCreated never changes an existing schema,
    /// so delete <c>data/energy.db</c> after changing the model). Several processes starting at once may race to create
    /// it; the loser retries and finds it there.
    /// </summary>
    public static async Task EnsureCreatedAsync(EnergyDb db, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await db.Database.EnsureCreatedAsync(cancellationToken);
                break;
            }
            // EF Core wraps an error its provider calls transient (a deadlock, "database is being created") in an
            // InvalidOperationException when no retrying execution strategy is configured.
            catch (Exception e) when (attempt < 5 && e is DbUpdateException or SqliteException or Npgsql.PostgresException
                or InvalidOperationException { InnerException: System.Data.Common.DbException })
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken);
            }
        }
        if (db.Database.IsSqlite())
        {
            // WAL: readers never wait for the writer, and several processes share the file. Persistent in the file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode = WAL;", cancellationToken);
        }
    }
}
