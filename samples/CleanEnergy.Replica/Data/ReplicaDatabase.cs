using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Replica.Data;

/// <summary>Where the replica's own data lives: the SQLite file of <c>ConnectionStrings:Replica</c>.</summary>
internal static class ReplicaDatabase
{
    /// <summary>Used when <c>ConnectionStrings:Replica</c> is not set; relative to the content root.</summary>
    public const string DefaultConnectionString = "Data Source=data/replica.db";

    /// <summary>
    /// The SQLite connection string: a relative <c>Data Source</c> is read from the content root, its directory is
    /// created, and a 30 s busy timeout lets the web requests and the subscription's concurrent handlers share the file.
    /// </summary>
    public static string ConnectionString(string? configured, string contentRoot)
    {
        var builder = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(configured) ? DefaultConnectionString : configured);
        if (builder.DataSource is { Length: > 0 } source && source != ":memory:" && builder.Mode != SqliteOpenMode.Memory)
        {
            builder.DataSource = Path.GetFullPath(source, contentRoot);
            Directory.CreateDirectory(Path.GetDirectoryName(builder.DataSource)!);
        }
        if (builder.DefaultTimeout < 30) builder.DefaultTimeout = 30;
        return builder.ToString();
    }

    /// <summary>
    /// Creates the schema when there is none (a sample: no migrations; delete <c>data/replica.db</c> after changing the
    /// model) and turns on WAL, so that readers never wait for the writer. Processes starting at once (<c>web</c> and
    /// <c>worker</c>) may race to create it; the loser tries again and finds it there.
    /// </summary>
    public static async Task EnsureCreatedAsync(ReplicaDb db, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await db.Database.EnsureCreatedAsync(cancellationToken);
                break;
            }
            catch (SqliteException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken);
            }
        }
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode = WAL;", cancellationToken);
    }
}
