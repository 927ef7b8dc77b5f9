// Test worker: `Celeriac.TestWorker worker -c 8` on CELERIAC_TEST_DB (a SQLite file) or CELERIAC_TEST_REDIS (a Redis
// configuration string, with CELERIAC_TEST_PREFIX as key prefix), and CELERIAC_TEST_LOG (a file that gets one line
// per task run, flushed before the task returns, so a test can count runs even for a process it killed).
using Celeriac;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var db = Environment.GetEnvironmentVariable("CELERIAC_TEST_DB");
var redis = Environment.GetEnvironmentVariable("CELERIAC_TEST_REDIS");
var logPath = Environment.GetEnvironmentVariable("CELERIAC_TEST_LOG") ?? throw new InvalidOperationException("CELERIAC_TEST_LOG is not set.");
var lease = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("CELERIAC_TEST_LEASE_SECONDS") ?? "2", System.Globalization.CultureInfo.InvariantCulture));

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Celeriac.Hosting", LogLevel.Information); // "Celeriac worker started" tells a test it is ready
builder.Services.AddCeleriac(c =>
{
    if (redis is not null) c.UseRedis(redis, o => o.KeyPrefix = Environment.GetEnvironmentVariable("CELERIAC_TEST_PREFIX") ?? o.KeyPrefix);
    else c.UseSqlite(db ?? throw new InvalidOperationException("Set CELERIAC_TEST_DB or CELERIAC_TEST_REDIS."));
    c.ConfigureWorker(o => o.LeaseDuration = lease);
});
using var host = builder.Build();

var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
var gate = new Lock();
host.MapTask("proc.record", async (int n, int delayMs, TaskContext ctx, CancellationToken ct) =>
{
    await Task.Delay(delayMs, ct);
    lock (gate) log.WriteLine(ctx.Id);
    return n;
});

// One run per key at a time: logs "id key startTicks endTicks" so a test can look for overlaps across processes.
host.MapTask("proc.locked", async (int key, int delayMs, TaskContext ctx, CancellationToken ct) =>
{
    var start = DateTime.UtcNow.Ticks;
    await Task.Delay(delayMs, ct);
    var end = DateTime.UtcNow.Ticks;
    lock (gate) log.WriteLine($"{ctx.Id} {key} {start} {end}");
    return key;
}).Lock("key:{key}", retryAfter: TimeSpan.FromMilliseconds(20));

// Beat: proc.tick logs its task id, beat:proc.beat:{tickUnixMs}. With CELERIAC_TEST_BEAT_MS set, the schedule proc.beat
// sends it every that many ms (run `beat` to fire it); its messages expire after a minute, not at the next tick.
host.MapTask("proc.tick", (TaskContext ctx) => { lock (gate) log.WriteLine(ctx.Id); });
if (Environment.GetEnvironmentVariable("CELERIAC_TEST_BEAT_MS") is { } beatMs)
    host.MapSchedule("proc.beat", "proc.tick", TimeSpan.FromMilliseconds(int.Parse(beatMs, System.Globalization.CultureInfo.InvariantCulture)), configure: o => o.Expires = TimeSpan.FromMinutes(1));

// Events: with CELERIAC_TEST_DURABLE set, a durable subscription of that name on proc.events.> logs "n eventId";
// with CELERIAC_TEST_EPHEMERAL set, an ephemeral one does the same.
if (Environment.GetEnvironmentVariable("CELERIAC_TEST_DURABLE") is { } durable)
    host.MapSubscription("proc.events.>", (int n, EventContext ctx) => { lock (gate) log.WriteLine($"{n} {ctx.Id}"); }, durable);
if (Environment.GetEnvironmentVariable("CELERIAC_TEST_EPHEMERAL") is not null)
    host.MapSubscription("proc.events.>", (int n, EventContext ctx) => { lock (gate) log.WriteLine($"{n} {ctx.Id}"); });

// Channels: proc.group_send sends {type: "proc.item", n} to a group through the channel layer (Redis: to every web process).
host.MapTask("proc.group_send", async (string group, int n, IChannelLayer channels) => (await channels.GroupSendAsync(group, new { type = "proc.item", n })).Offset);

// Traces: with CELERIAC_TEST_TRACE set, this process records Celeriac's spans (an ActivityListener, as OpenTelemetry
// would); proc.trace returns "traceId parentSpanId" of its celeriac.task span, and the durable subscription
// proc-traced on proc.traced.> logs "eventId traceId parentSpanId" of its handler's span.
using var tracing = Environment.GetEnvironmentVariable("CELERIAC_TEST_TRACE") is null ? null : new System.Diagnostics.ActivityListener
{
    ShouldListenTo = s => s.Name == "Celeriac",
    Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
};
if (tracing is not null)
{
    System.Diagnostics.ActivitySource.AddActivityListener(tracing);
    static string Span() => System.Diagnostics.Activity.Current is { } a ? $"{a.TraceId} {a.ParentSpanId}" : "none";
    host.MapTask("proc.trace", () => Span());
    host.MapSubscription("proc.traced.>", (EventContext ctx) => { lock (gate) log.WriteLine($"{ctx.Id} {Span()}"); }, "proc-traced");
}

return await host.RunCeleriacAsync(args);
