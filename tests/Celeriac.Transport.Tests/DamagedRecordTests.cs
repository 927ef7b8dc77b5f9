using System.Collections.Concurrent;
using System.Diagnostics;
using Celeriac.Worker;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Transport.Tests;

/// <summary>Where a damaged record sits in its queue when the worker meets it.</summary>
public enum Placement
{
    /// <summary>Ready now, between good messages.</summary>
    Ready,
    /// <summary>Delayed, and due.</summary>
    DueDelayed,
    /// <summary>Leased by a worker that died: its lease has run out.</summary>
    ExpiredLease,
}

/// <summary>
/// One damaged record and what the store and worker must make of it: a dead letter under <see cref="DeadLetterId"/>
/// with one of <see cref="Reasons"/>, or (no reasons) only one log line naming <see cref="DeadLetterId"/>. A
/// <see cref="Body"/> damage is a bad body stored through the transport; the others are written into the store itself.
/// </summary>
public sealed record Damage(string What, Placement Where, string[] Reasons, bool Body = false)
{
    /// <summary>The message id the damaged record is written under (set when the case is laid out).</summary>
    public string Id { get; init; } = "";

    /// <summary>The id its dead letter or log line carries (the id, or the damaged index entry itself).</summary>
    public string DeadLetterId { get; init; } = "";

    public override string ToString() => $"{What} @ {Where}";
}

/// <summary>
/// Property-based fault tests over each store's own records. CsCheck generates random mixes of good messages and
/// damaged records (each field missing, empty, of the wrong type, huge, a key of another type, a body in an unknown
/// envelope format, …) at random places in a queue (ready, delayed and due, under a lease that ran out); a real worker
/// then consumes the queue. Invariants, per case:
/// <list type="bullet">
/// <item>every good message reaches SUCCESS, and ran exactly once (no fault touched it);</item>
/// <item>every damaged record costs exactly itself: one dead letter with its reason (<c>corrupt-record</c> for the
/// store's record, the worker's reason for a bad body), or, for an index entry with no record behind it, one log line;</item>
/// <item>nothing is left in the queue, and a message sent afterwards still runs (the worker keeps fetching).</item>
/// </list>
/// <c>CELERIAC_FAULT_CASES</c> sets the number of cases per store (default 25; the failing case is shrunk and printed).
/// </summary>
public abstract class DamagedRecordTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, int> _runs = new(StringComparer.Ordinal);
    private readonly LogCapture _logs = new();
    private TransportHarness? _harness;
    private int _cases;

    /// <summary>How many generated cases each store runs.</summary>
    protected static int Cases => int.TryParse(Environment.GetEnvironmentVariable("CELERIAC_FAULT_CASES"), out var n) && n > 0 ? n : 25;

    /// <summary>Limit above which the worker refuses a body as too large (kept small so "huge" is cheap).</summary>
    protected const int MaxMessageBytes = 64 * 1024;

    /// <summary>The store under test, through <c>AddCeleriac</c> with <paramref name="tasks"/> and the services given (logging, options).</summary>
    protected abstract TransportHarness Open(Action<CeleriacBuilder> tasks, Action<IServiceCollection> services);

    /// <summary>Damages the store's own records can have (in addition to the bad bodies every store shares).</summary>
    protected abstract Gen<Damage> RecordDamages { get; }

    /// <summary>Writes <paramref name="damage"/> into <paramref name="queue"/> as the store would hold it, bypassing the transport.</summary>
    protected abstract Task InjectAsync(IServiceProvider services, string queue, Damage damage);

    /// <summary>Bad bodies: stored as any message is, refused by the worker with a reason.</summary>
    private static readonly Gen<Damage> BodyDamages = Gen.OneOf(
        Gen.Const(new Damage("body not JSON", Placement.Ready, ["malformed"], Body: true)),
        Gen.Const(new Damage("body empty", Placement.Ready, ["malformed"], Body: true)),
        Gen.Const(new Damage("body in an unknown envelope format", Placement.Ready, ["malformed"], Body: true)),
        Gen.Const(new Damage("body without a task name", Placement.Ready, ["malformed"], Body: true)),
        Gen.Const(new Damage("body naming an unknown task", Placement.Ready, ["unknown-task"], Body: true)),
        Gen.Const(new Damage("body with arguments that do not bind", Placement.Ready, ["bad-arguments"], Body: true)),
        Gen.Const(new Damage("body huge", Placement.Ready, ["too-large"], Body: true)));

    /// <summary>The body a body damage stores.</summary>
    private static string BodyFor(Damage damage, string id) => damage.What switch
    {
        "body not JSON" => "{{{ not json",
        "body empty" => "",
        "body in an unknown envelope format" => "[[1, 2], {}, {\"callbacks\": null}]",
        "body without a task name" => $$"""{"id":"{{id}}","args":[1]}""",
        "body naming an unknown task" => $$"""{"id":"{{id}}","task":"no.such.task","args":[]}""",
        "body with arguments that do not bind" => $$"""{"id":"{{id}}","task":"good","args":["not a number"]}""",
        "body huge" => $$"""{"id":"{{id}}","task":"good","args":[1],"pad":"{{new string('x', MaxMessageBytes + 100)}}"}""",
        _ => throw new ArgumentOutOfRangeException(nameof(damage), damage.What, null),
    };

    [Fact]
    public async Task Damaged_records_cost_only_themselves_and_every_good_message_succeeds_once()
    {
        _harness = Open(MapGood, services =>
        {
            services.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Information));
            services.Configure<CeleriacOptions>(o => o.MaxMessageBytes = MaxMessageBytes);
        });
        var mixes = Gen.Frequency((3, Gen.Const(default(Damage))), (2, Gen.OneOf(BodyDamages, RecordDamages).Select(d => (Damage?)d))).List[1, 14];
        await mixes.SampleAsync(RunCaseAsync, iter: Cases, threads: 1, print: Describe);
        Assert.Equal(Cases, _cases);
    }

    private static string Describe(List<Damage?> mix) => string.Join(", ", mix.Select(d => d?.ToString() ?? "good"));

    private async Task RunCaseAsync(List<Damage?> mix)
    {
        var services = _harness!.Services;
        var n = Interlocked.Increment(ref _cases);
        var queue = $"case{n}-{Guid.NewGuid():N}";
        var client = services.GetRequiredService<ITaskClient>();
        var transport = services.GetRequiredService<ITaskTransport>();
        var good = new List<TaskHandle>();
        var damaged = new List<Damage>();
        // Opens the store (a SQLite file is created at first use), so a case that starts with a damaged row can write it.
        await transport.GetQueueStatsAsync();

        // Lay the queue out in order, so damaged records sit between good messages.
        for (var i = 0; i < mix.Count; i++)
        {
            if (mix[i] is not { } damage)
            {
                good.Add(await client.SendAsync("good", new { n = i }, o => o.Queue = queue));
                continue;
            }
            var id = $"bad{i}-{Guid.NewGuid():N}";
            damage = damage with { Id = id, DeadLetterId = damage.DeadLetterId.Length > 0 ? damage.DeadLetterId : id };
            if (damage.Body)
                await transport.EnqueueAsync([new OutgoingMessage(id, queue, 0, BodyFor(damage, id))]);
            else
                damage = await InjectedAsync(services, queue, damage);
            damaged.Add(damage);
        }

        var worker = ActivatorUtilities.CreateInstance<TaskWorker>(services);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(new WorkerOptions
        {
            Queues = [queue], Concurrency = 4, Prefetch = 4, FetchWait = TimeSpan.FromMilliseconds(200),
            LeaseDuration = TimeSpan.FromSeconds(60), ShutdownTimeout = TimeSpan.FromSeconds(10),
        }, stop.Token);
        try
        {
            foreach (var handle in good)
                Assert.Equal(TaskStates.Success, (await handle.WaitAsync(Bound))?.State);

            // Each damaged record: exactly one dead letter with an expected reason, or one log line.
            var expectedDead = damaged.Where(d => d.Reasons.Length > 0).ToList();
            var dead = await Eventually.GetAsync(async () =>
            {
                var list = (await transport.GetDeadLettersAsync(100_000)).Where(d => d.Queue == queue).ToList();
                return list.Count >= expectedDead.Count ? list : null;
            }, Bound);
            Assert.Equal(expectedDead.Count, dead.Count);
            foreach (var damage in expectedDead)
            {
                var letter = Assert.Single(dead, d => d.Id == damage.DeadLetterId);
                Assert.Contains(letter.Info.Reason, damage.Reasons);
            }
            foreach (var damage in damaged)
                Assert.Equal(1, _logs.Count(damage.DeadLetterId, LogLevel.Warning));

            // Every good message ran exactly once.
            foreach (var handle in good) Assert.Equal(1, _runs.GetValueOrDefault(handle.Id));

            // Nothing is left behind, and the worker is still fetching.
            await Eventually.TrueAsync(async () =>
                (await transport.GetQueueStatsAsync()).SingleOrDefault(s => s.Queue == queue) is not { } s || s.Ready + s.Delayed + s.Leased == 0, Bound);
            var after = await client.SendAsync("good", new { n = -1 }, o => o.Queue = queue);
            Assert.Equal(TaskStates.Success, (await after.WaitAsync(Bound))?.State);
            Assert.Equal(0, worker.Status.ConsecutiveFailures);
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(Bound);
        }
    }

    private async Task<Damage> InjectedAsync(IServiceProvider services, string queue, Damage damage)
    {
        await InjectAsync(services, queue, damage);
        return damage with { DeadLetterId = DeadLetterIdOf(damage) };
    }

    /// <summary>The id the dead letter or report of an injected damage carries; the message id unless the store says otherwise.</summary>
    protected virtual string DeadLetterIdOf(Damage damage) => damage.Id;

    /// <summary>Registers the one task every case sends; it counts its runs per task id.</summary>
    private void MapGood(CeleriacBuilder c) =>
        c.MapTask("good", (int n, TaskContext context) => _runs.AddOrUpdate(context.Id, 1, (_, runs) => runs + 1));

    public async ValueTask DisposeAsync()
    {
        if (_harness is not null) await _harness.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Keeps every log line, to count how often a record was reported.</summary>
    internal sealed class LogCapture : ILoggerProvider
    {
        private readonly ConcurrentQueue<(LogLevel Level, string Text)> _lines = new();

        public int Count(string id, LogLevel atLeast) => _lines.Count(l => l.Level >= atLeast && l.Text.Contains(id, StringComparison.Ordinal));

        public int CountExactly(string text, LogLevel level) => _lines.Count(l => l.Level == level && l.Text.Contains(text, StringComparison.Ordinal));

        public ILogger CreateLogger(string categoryName) => new Capture(_lines);

        public void Dispose() { }

        private sealed class Capture(ConcurrentQueue<(LogLevel, string)> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
