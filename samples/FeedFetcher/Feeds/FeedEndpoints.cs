using System.Text.Json;
using Celeriac;
using Celeriac.Transport;

namespace FeedFetcher.Feeds;

/// <summary>The sample's HTTP API.</summary>
internal static class FeedEndpoints
{
    public static void MapFeedEndpoints(this WebApplication app)
    {
        app.MapGet("/", () => Results.Text("""
            FeedFetcher
              POST /feeds/fetch-all?count=20   send feeds.fetch_all (returns its task id)
              GET  /feeds                      stored pages with their fetch times
              GET  /feeds/{id}                 one stored page
              GET  /tasks/{id}                 a task's state and result
              GET  /upstream/feeds/{id}        the flaky upstream (50-800 ms, ~25% 503)

            """));

        app.MapPost("/feeds/fetch-all", async (ITaskClient tasks, CancellationToken ct, int count = 20) =>
        {
            if (count is < 1 or > 1000) return Results.BadRequest(new { error = "count must be between 1 and 1000" });
            var handle = await tasks.SendAsync("feeds.fetch_all", new[] { count }, cancellationToken: ct);
            return Results.Accepted($"/tasks/{handle.Id}", new { taskId = handle.Id });
        });

        app.MapGet("/feeds", async (FeedStore store, CancellationToken ct) => Results.Ok(await store.ListAsync(ct)));

        app.MapGet("/feeds/{id:int}", async (int id, FeedStore store, CancellationToken ct) =>
            await store.GetBodyAsync(id, ct) is { } body ? Results.Text(body, "application/rss+xml") : Results.NotFound());

        app.MapGet("/tasks/{id}", async (string id, ITaskClient tasks, CancellationToken ct) =>
        {
            var result = await tasks.GetHandle(id).GetResultAsync(ct);
            return Results.Ok(new
            {
                id,
                task = result?.Task,
                state = result?.State ?? TaskStates.Pending,
                result = result?.Result is { } json ? JsonSerializer.Deserialize<JsonElement>(json) : (JsonElement?)null,
                error = result?.Error is { } e ? new { e.Type, e.Message } : null,
                retries = result?.Retries ?? 0,
                updatedAt = result?.UpdatedAt,
            });
        });
    }
}
