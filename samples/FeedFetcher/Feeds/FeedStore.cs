using System.Globalization;
using Microsoft.Data.Sqlite;

namespace FeedFetcher.Feeds;

/// <summary>A stored page.</summary>
internal sealed record StoredPage(int FeedId, string? Title, int Bytes, DateTimeOffset FetchedAt, int Attempt, int Fetches);

/// <summary>
/// The fetched pages, one row per feed, in their own SQLite file (<c>Feeds:Database</c>, default <c>data/pages.db</c>,
/// WAL so web and worker processes can share it). The schema is created on first use.
/// </summary>
internal sealed class FeedStore
{
    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly Lazy<Task> _schema;

    public FeedStore(IConfiguration configuration, TimeProvider time)
    {
        var path = Path.GetFullPath(configuration["Feeds:Database"] ?? "data/pages.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 10 }.ToString();
        _time = time;
        _schema = new Lazy<Task>(CreateSchemaAsync);
    }

    /// <summary>Stores (replaces) the page of <paramref name="feedId"/> and returns when it was fetched.</summary>
    public async Task<DateTimeOffset> SaveAsync(int feedId, string? title, string body, int attempt, CancellationToken cancellationToken)
    {
        var fetchedAt = _time.GetUtcNow();
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO pages(feed_id, title, body, fetched_at, attempt, fetches) VALUES($id, $title, $body, $fetchedAt, $attempt, 1)
            ON CONFLICT(feed_id) DO UPDATE SET title = excluded.title, body = excluded.body, fetched_at = excluded.fetched_at,
                attempt = excluded.attempt, fetches = fetches + 1;
            """;
        command.Parameters.AddWithValue("$id", feedId);
        command.Parameters.AddWithValue("$title", (object?)title ?? DBNull.Value);
        command.Parameters.AddWithValue("$body", body);
        command.Parameters.AddWithValue("$fetchedAt", fetchedAt.ToString("O", CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("$attempt", attempt);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return fetchedAt;
    }

    /// <summary>Every stored page, by feed id (without the bodies).</summary>
    public async Task<IReadOnlyList<StoredPage>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT feed_id, title, length(body), fetched_at, attempt, fetches FROM pages ORDER BY feed_id;";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var pages = new List<StoredPage>();
        while (await reader.ReadAsync(cancellationToken))
        {
            pages.Add(new StoredPage(reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetInt32(2),
                DateTimeOffset.Parse(reader.GetString(3), CultureInfo.InvariantCulture), reader.GetInt32(4), reader.GetInt32(5)));
        }
        return pages;
    }

    /// <summary>One page's body, or <see langword="null"/> when the feed was never fetched.</summary>
    public async Task<string?> GetBodyAsync(int feedId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT body FROM pages WHERE feed_id = $id;";
        command.Parameters.AddWithValue("$id", feedId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await _schema.Value.WaitAsync(cancellationToken);
        return await OpenRawAsync(cancellationToken);
    }

    private async Task<SqliteConnection> OpenRawAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA busy_timeout = 5000;";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    private async Task CreateSchemaAsync()
    {
        await using var connection = await OpenRawAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS pages(
                feed_id    INTEGER PRIMARY KEY,
                title      TEXT,
                body       TEXT NOT NULL,
                fetched_at TEXT NOT NULL,
                attempt    INTEGER NOT NULL,
                fetches    INTEGER NOT NULL);
            """;
        await command.ExecuteNonQueryAsync();
    }
}
