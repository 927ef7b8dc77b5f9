// Test web app: `Celeriac.TestWeb web --urls http://127.0.0.1:PORT` on CELERIAC_TEST_REDIS (+ CELERIAC_TEST_PREFIX) or
// CELERIAC_TEST_DB (a SQLite file).
// /ws/{group} accepts every connection and adds it to that group; group messages are forwarded to the client.
using Celeriac;

var builder = WebApplication.CreateBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information); // "Now listening on" tells a test it is ready
var redis = Environment.GetEnvironmentVariable("CELERIAC_TEST_REDIS");
builder.Services.AddCeleriac(c =>
{
    if (redis is not null) c.UseRedis(redis, o => o.KeyPrefix = Environment.GetEnvironmentVariable("CELERIAC_TEST_PREFIX") ?? o.KeyPrefix);
    else c.UseSqlite(Environment.GetEnvironmentVariable("CELERIAC_TEST_DB") ?? throw new InvalidOperationException("Set CELERIAC_TEST_REDIS or CELERIAC_TEST_DB."));
});
builder.Services.AddCeleriacChannels(o => o.MembershipReportInterval = TimeSpan.FromSeconds(1));
var app = builder.Build();
app.MapConsumer<GroupConsumer>("/ws/{group}");
return await app.RunCeleriacAsync(args);

internal sealed class GroupConsumer : WebSocketConsumer
{
    public override async ValueTask OnConnectAsync()
    {
        await AcceptAsync();
        await AddToGroupAsync((string)RouteValues["group"]!);
    }
}
