// CleanEnergy.Replica: a second app with its own database that keeps a copy of the master's users (samples/CleanEnergy)
// through the durable subscription "replica" on users.changed, and pushes each change to the user's open profile page.
//
//   dotnet run --project samples/CleanEnergy.Replica        web + worker in one process, on the master's SQLite store
//                                                           (../CleanEnergy/data/celeriac.db); http://127.0.0.1:5091/me
//   dotnet run --project samples/CleanEnergy.Replica -- --redis 127.0.0.1:6379               the same over Redis
//   dotnet run --project samples/CleanEnergy.Replica -- worker --redis 127.0.0.1:6379        consume only (Redis)
using CleanEnergy.Replica;
using Celeriac;

var builder = WebApplication.CreateBuilder(args);

var store = builder.AddReplicaCeleriac(args);   // the master's store: SQLite file or Redis; no beat, no master queues
builder.AddReplicaDomain();                     // data/replica.db, login, channels

var app = builder.Build();

app.MapReplica();                               // durable "replica" on users.changed; /login, /me, /ws/profile, /api/…
await app.InitializeReplicaDataAsync();         // schema
app.PrintBannerWhenStarted(store);

return await app.RunCeleriacAsync(args);
