using System.Text.Json;
using CleanEnergy.Data;
using Celeriac;
using Celeriac.Transport;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Api;

/// <summary>
/// A small JSON API over the data and the tasks (for curl, scripts and the pages built on top). Reading is open;
/// switching a device needs a login, and like every change an antiforgery token (<see cref="Web.AntiforgeryCheck"/>).
/// </summary>
internal static class EnergyApi
{
    public static IEndpointRouteBuilder MapEnergyApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");

        // Devices with their latest state.
        api.MapGet("/devices", async (EnergyDb db, ObservationStore observations, CancellationToken ct) =>
        {
            var devices = await db.Devices.AsNoTracking().OrderBy(d => d.Id).ToListAsync(ct);
            var list = new List<object>(devices.Count);
            foreach (var d in devices)
            {
                var on = await observations.LatestAsync(Observation.SourceOf(d.Id), DeviceNames.On, ct);
                var power = await observations.LatestAsync(Observation.SourceOf(d.Id), DeviceNames.Power, ct);
                list.Add(new
                {
                    d.Id, d.Name, d.Location, d.VendorId, d.Kind, d.Reachable, d.ReachableSince, d.LastSeenAt,
                    on = on?.BoolValue, powerW = power?.NumberValue, at = on?.Time,
                });
            }
            return Results.Ok(list);
        });

        // The grid signal: the latest value and the last N points (for a chart's first paint).
        api.MapGet("/grid", async (EnergyDb db, CancellationToken ct, int points = 120) =>
        {
            points = Math.Clamp(points, 1, 5000);
            var recent = await db.Observations.AsNoTracking()
                .Where(o => o.Source == Observation.GridSource && o.Name == GridNames.Intensity)
                .OrderByDescending(o => o.Time).Take(points)
                .Select(o => new { value = o.NumberValue, at = o.Time })
                .ToListAsync(ct);
            recent.Reverse();
            return Results.Ok(new { latest = recent.LastOrDefault(), points = recent });
        });

        // Switch a device through the task (returns the task id to follow): a login and an antiforgery token needed.
        api.MapPost("/devices/{id:int}/power", async (int id, bool on, ITaskClient tasks, CancellationToken ct) =>
        {
            var handle = await tasks.SendAsync("devices.switch", new { deviceId = id, on }, cancellationToken: ct);
            return Results.Accepted($"/api/tasks/{handle.Id}", new { taskId = handle.Id });
        }).RequireAuthorization();

        // The recent vendor calls.
        api.MapGet("/interactions", async (EnergyDb db, CancellationToken ct, int count = 50) =>
            Results.Ok(await db.Interactions.AsNoTracking().OrderByDescending(i => i.Id).Take(Math.Clamp(count, 1, 1000)).ToListAsync(ct)));

        // A task's state and result.
        api.MapGet("/tasks/{id}", async (string id, ITaskClient tasks, CancellationToken ct) =>
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
            });
        });
        return app;
    }
}
