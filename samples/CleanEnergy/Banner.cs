using CleanEnergy.Data;
using CleanEnergy.VendorCloud;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CleanEnergy;

/// <summary>What a newcomer needs to see once the app listens: where, and how to log in.</summary>
internal static class Banner
{
    public static void PrintBannerWhenStarted(this WebApplication app, VendorCloudHandle? simulator)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var url = (addresses.FirstOrDefault() ?? "(no address)").TrimEnd('/');
            var vendor = simulator is null
                ? app.Configuration["Vendor:BaseUrl"] is { Length: > 0 } configured ? configured : VendorCloudServer.DefaultUrl
                : $"{simulator.BaseAddress} (simulator, in this process)";
            Console.WriteLine($"""

                CleanEnergy is running at {url}
                  open:         {url}/   (dashboard; chat rooms at /chat/lobby, users at /users)
                  demo login:   alice / {EnergySetup.DemoPassword}   (or bob / {EnergySetup.DemoPassword})
                  JSON API:     {url}/api/devices, {url}/api/grid
                  vendor cloud: {vendor}
                  alert:        dotnet run --project samples/CleanEnergy -- send --on alerts.ops "hello"
                  Ctrl-C stops it.

                """);
        });
    }
}
