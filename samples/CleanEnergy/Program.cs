// CleanEnergy: switches devices on when the power grid is clean and off when it is dirty, through the devices'
// vendor API. The reference application of Celeriac: tasks, beat schedules, events and WebSocket groups.
//
//   dotnet run --project samples/CleanEnergy                  web + worker + beat + the vendor simulator, one process, SQLite
//   open http://127.0.0.1:5090/ and log in as alice / demo    the dashboard, chat rooms, users
//   curl http://127.0.0.1:5090/api/devices                    devices with their latest state
//   dotnet run --project samples/CleanEnergy -- listen --on 'alerts.>'
//   dotnet run --project samples/CleanEnergy -- inspect
//
// Many machines over Redis (start the simulator on its own first: dotnet run --project samples/CleanEnergy.VendorCloud):
//   dotnet run --project samples/CleanEnergy -- web    --redis 127.0.0.1:6379 --Vendor:BaseUrl=http://127.0.0.1:5081
//   dotnet run --project samples/CleanEnergy -- worker --redis 127.0.0.1:6379 --Vendor:BaseUrl=http://127.0.0.1:5081
//   dotnet run --project samples/CleanEnergy -- beat   --redis 127.0.0.1:6379
// One machine, no Redis: the same commands without --redis share data/celeriac.db (or --Celeriac:Sqlite:Path=FILE).
using CleanEnergy;
using CleanEnergy.Api;
using CleanEnergy.Web;
using Celeriac;

var command = EnergyCommand.Of(args);
var builder = WebApplication.CreateBuilder(args);

builder.AddEnergyCeleriac(args);      // the queue: SQLite file data/celeriac.db (Celeriac:Sqlite:Path), or Redis with --redis
builder.AddEnergyDomain();            // data (SQLite data/energy.db or PostgreSQL), vendor client, services
builder.AddEnergyWeb();               // cookie login, WebSocket consumers, data-protection keys in data/keys
await using var simulator = await builder.StartVendorCloudIfNeededAsync(command);   // one-command mode only

var app = builder.Build();

app.MapEnergyTasks();                 // devices.poll/switch/decide(_all), grid.refresh, clock.tick, observations.rollup, users.publish_change
app.MapEnergySchedules();             // beat: grid 2 s, polls 3 s, decisions 5 s, clock 0.5 s, rollup nightly
if (command.ServesWeb) app.MapEnergyAlertForwarding();   // alerts.> → the "alerts" WebSocket group
app.MapEnergyApi();                   // /api/devices, /api/grid, /api/interactions, /api/tasks/{id} (reads open, for curl); POST power (login)
app.MapEnergyWeb();                   // /login, / (dashboard), /chat/{room}, /users, /ws/dashboard, /ws/chat/{room}, /api/users, …

await app.InitializeEnergyDataAsync(command);            // schema, demo users, the vendor's devices
if (command.ServesWeb) app.PrintBannerWhenStarted(simulator);

return await app.RunCeleriacAsync(args);
