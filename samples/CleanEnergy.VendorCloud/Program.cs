// CleanEnergy.VendorCloud: the device vendor's cloud, simulated. Smart plugs, thermostats, EV chargers and a light
// behind a JSON HTTP API, a grid carbon-intensity signal, and trouble on demand (5xx, timeouts, offline devices).
//
//   dotnet run --project samples/CleanEnergy.VendorCloud -- --urls http://127.0.0.1:5081
//   curl http://127.0.0.1:5081/api/v1/devices
//   curl -X POST http://127.0.0.1:5081/api/v1/devices/vx-1003/power -d '{"on": true}'
//   curl -X PUT http://127.0.0.1:5081/admin/trouble -d '{"failureRate": 0.3, "timeoutRate": 0.1}'
//
// Options come from the "VendorCloud" configuration section (command line, environment, appsettings.json); the
// reference application starts the same app in-process with VendorCloudServer.StartAsync.
using CleanEnergy.VendorCloud;

await using var app = VendorCloudServer.CreateApplication(args);
await app.RunAsync();
