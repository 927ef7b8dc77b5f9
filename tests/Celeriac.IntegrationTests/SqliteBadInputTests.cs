using Celeriac.Transport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests;

/// <summary>Rows damaged in the SQLite file are dead-lettered with a clear error; the worker goes on.</summary>
public sealed class SqliteBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("celeriac-bad-").FullName;

    [Fact]
    public async Task Corrupted_message_rows_are_dead_lettered_and_the_rest_complete()
    {
        var db = Path.Combine(_dir, "tasks.db");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.Services.AddCeleriac(c => c.UseSqlite(db).ConfigureWorker(o => o.Concurrency = 2));
        using var host = builder.Build();
        host.MapTask("double", (int n) => n * 2);
        var client = host.Services.GetRequiredService<ITaskClient>();
        var transport = host.Services.GetRequiredService<ITaskTransport>();
        var results = host.Services.GetRequiredService<IResultStore>();

        var handles = new List<TaskHandle>();
        for (var i = 0; i < 30; i++) handles.Add(await client.SendAsync("double", new[] { i }));
        var victims = new[] { handles[3].Id, handles[10].Id, handles[20].Id };

        // Damage three rows behind the transport's back: not JSON, a blob, JSON of the wrong shape. The two text bodies
        // reach the worker, which stores a MalformedMessage failure; the blob is a record of the wrong type, which the
        // transport moves to the dead-letter table as corrupt-record before any worker sees it.
        await using (var connection = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                UPDATE messages SET body = '{"id": "x", "task": ' WHERE id = $a;
                UPDATE messages SET body = X'00FFFE01' WHERE id = $b;
                UPDATE messages SET body = '{"id": 42, "task": ["double"], "args": "seven"}' WHERE id = $c;
                """;
            command.Parameters.AddWithValue("$a", victims[0]);
            command.Parameters.AddWithValue("$b", victims[1]);
            command.Parameters.AddWithValue("$c", victims[2]);
            Assert.Equal(3, await command.ExecuteNonQueryAsync());
        }

        await host.StartAsync();
        try
        {
            foreach (var handle in handles.Where(h => !victims.Contains(h.Id)))
                Assert.True((await handle.WaitAsync(TimeSpan.FromSeconds(30)))?.State == TaskStates.Success);
            foreach (var id in new[] { victims[0], victims[2] })
            {
                var failure = await results.WaitAsync(id, TimeSpan.FromSeconds(30));
                Assert.Equal(TaskStates.Failure, failure?.State);
                Assert.Equal("MalformedMessage", failure!.Error!.Type);
            }
            // The failure's result is stored before the message moves to the dead-letter queue.
            var dead = await transport.GetDeadLettersAsync(10);
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); dead.Count < victims.Length && waited.Elapsed < TimeSpan.FromSeconds(30); dead = await transport.GetDeadLettersAsync(10))
                await Task.Delay(20);
            Assert.Equal(victims.Order(), dead.Select(d => d.Id).Order());
            Assert.Equal(
                new[] { (victims[0], "malformed"), (victims[1], DeadLetterInfo.CorruptRecordReason), (victims[2], "malformed") }.Order(),
                dead.Select(d => (d.Id, d.Info.Reason)).Order());
            Assert.Null(await results.GetAsync(victims[1]));
            Assert.Equal(54, await handles[27].GetAsync<int>(TimeSpan.FromSeconds(1)));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
