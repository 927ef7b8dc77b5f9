using System.Text.Json.Serialization;
using CleanEnergy.VendorCloud.Devices;
using CleanEnergy.VendorCloud.Http;
using CleanEnergy.VendorCloud.Trouble;

namespace CleanEnergy.VendorCloud.Admin;

/// <summary>
/// The simulator's own controls under <c>/admin</c>: trouble, offline devices, the grid override and the call log.
/// Not part of the vendor's API, so trouble never applies to them and they are not in the call log.
/// </summary>
internal static class AdminEndpoints
{
    public static void MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin");

        admin.MapGet("/trouble", (TroubleControl trouble) => Results.Ok(trouble.Current));

        // A merge: the fields sent replace theirs, the others keep their values. Unknown fields are refused.
        admin.MapPut("/trouble", async (HttpRequest request, TroubleControl trouble) =>
        {
            const string Example = """{"failureRate": 0.3, "timeoutRate": 0.1, "timeoutDelayMs": 10000, "latencyMs": {"min": 20, "max": 200}, "offlineMode": "hang", "offlineDevices": ["vx-1003"]}""";
            var (patch, error) = await VendorJson.ReadAsync<TroublePatch>(request, Example);
            if (error is not null)
                return error;
            try
            {
                return Results.Ok(trouble.Update(t => patch!.ApplyTo(t)));
            }
            catch (ArgumentException e)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid trouble settings", detail: e.Message);
            }
        });

        // The devices as they really are, whatever the trouble: for demos and tests (the controller sees /api/v1).
        admin.MapGet("/devices", (DeviceFleet fleet, TroubleControl trouble) =>
        {
            var now = fleet.Time.GetUtcNow();
            return Results.Ok(fleet.All.Select(d => d.Read(now) with { Online = !trouble.IsOffline(d.VendorId) }).ToList());
        });

        admin.MapPut("/devices/{vendorId}/offline", async (string vendorId, HttpRequest request, TroubleControl trouble) =>
        {
            if (!trouble.IsKnownDevice(vendorId))
                return VendorJson.NoDevice(vendorId);
            const string Example = """{"offline": true}""";
            var (body, error) = await VendorJson.ReadAsync<OfflineRequest>(request, Example);
            if (error is not null)
                return error;
            if (body?.Offline is not bool offline)
                return VendorJson.BadBody("'offline' (true or false) is required", Example);
            trouble.SetOffline(vendorId, offline);
            return Results.Ok(new { vendorId, offline, trouble = trouble.Current });
        });

        admin.MapGet("/grid", (GridControl grid) => Results.Ok(grid.Read()));

        admin.MapPut("/grid", async (HttpRequest request, GridControl grid) =>
        {
            const string Example = """{"intensity": 120} or {"mode": "clean"} ("clean", "dirty" or "auto")""";
            var (body, error) = await VendorJson.ReadAsync<GridRequest>(request, Example);
            if (error is not null)
                return error;
            switch (body)
            {
                case { Intensity: double intensity, Mode: null or GridMode.Fixed }:
                    if (!(intensity is >= 0 and <= 2000))
                        return VendorJson.BadBody("'intensity' must be between 0 and 2000 gCO2/kWh", Example);
                    grid.SetIntensity(intensity);
                    break;
                case { Intensity: null, Mode: GridMode.Auto or GridMode.Clean or GridMode.Dirty }:
                    grid.SetMode(body.Mode.Value);
                    break;
                default:
                    return VendorJson.BadBody("send either 'intensity' or 'mode' (clean, dirty or auto)", Example);
            }
            return Results.Ok(grid.Read());
        });

        admin.MapGet("/calls", (CallLog calls, int? limit) =>
        {
            if (limit is < 0)
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad limit", detail: "limit must be 0 or more.");
            var (total, kept) = calls.Snapshot(limit);
            return Results.Ok(new { total, calls = kept });
        });

        admin.MapDelete("/calls", (CallLog calls) =>
        {
            calls.Clear();
            return Results.NoContent();
        });
    }

    /// <summary>The body of <c>PUT /admin/trouble</c>: any subset of <see cref="TroubleSettings"/>'s fields.</summary>
    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    private sealed record TroublePatch(
        double? FailureRate,
        double? TimeoutRate,
        int? TimeoutDelayMs,
        LatencyRange? LatencyMs,
        OfflineMode? OfflineMode,
        string[]? OfflineDevices)
    {
        public TroubleSettings ApplyTo(TroubleSettings current) => current with
        {
            FailureRate = FailureRate ?? current.FailureRate,
            TimeoutRate = TimeoutRate ?? current.TimeoutRate,
            TimeoutDelayMs = TimeoutDelayMs ?? current.TimeoutDelayMs,
            LatencyMs = LatencyMs ?? current.LatencyMs,
            OfflineMode = OfflineMode ?? current.OfflineMode,
            OfflineDevices = OfflineDevices ?? current.OfflineDevices,
        };
    }

    private sealed record OfflineRequest(bool? Offline);

    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    private sealed record GridRequest(double? Intensity, GridMode? Mode);
}
