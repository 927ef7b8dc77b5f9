using System.Text.Json;
using CleanEnergy.VendorCloud.Http;

namespace CleanEnergy.VendorCloud.Devices;

/// <summary>The vendor's device API under <c>/api/v1</c>.</summary>
internal static class DeviceEndpoints
{
    public static void MapDeviceEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/devices");

        api.MapGet("", (DeviceFleet fleet, TroubleControl trouble) =>
        {
            var now = fleet.Time.GetUtcNow();
            return Results.Ok(fleet.All.Select(d => d.Summary(now, online: !trouble.IsOffline(d.VendorId))).ToList());
        });

        api.MapGet("/{vendorId}", (string vendorId, DeviceFleet fleet) =>
            fleet.Find(vendorId) is { } device ? Results.Ok(device.Read(fleet.Time.GetUtcNow())) : VendorJson.NoDevice(vendorId));

        api.MapPost("/{vendorId}/power", async (string vendorId, HttpRequest request, DeviceFleet fleet) =>
        {
            if (fleet.Find(vendorId) is not { } device)
                return VendorJson.NoDevice(vendorId);
            const string Example = """{"on": true}""";
            var (body, error) = await VendorJson.ReadAsync<PowerRequest>(request, Example);
            if (error is not null)
                return error;
            if (body?.On is not bool on)
                return VendorJson.BadBody("'on' (true or false) is required", Example);
            return Results.Ok(device.Switch(on, fleet.Time.GetUtcNow()));
        });

        api.MapPut("/{vendorId}/settings", async (string vendorId, HttpRequest request, DeviceFleet fleet) =>
        {
            if (fleet.Find(vendorId) is not { } device)
                return VendorJson.NoDevice(vendorId);
            var example = $"{{\"{device.SettingNames[0]}\": …}}";
            var (body, error) = await VendorJson.ReadAsync<JsonElement>(request, example);
            if (error is not null)
                return error;
            var errors = device.TryApply(body, fleet.Time.GetUtcNow(), out var status);
            return errors is null ? Results.Ok(status) : Results.ValidationProblem(errors, title: "Invalid settings");
        });
    }
}
