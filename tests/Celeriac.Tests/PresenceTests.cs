using System.Text.Json;
using Celeriac.Memory;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;

namespace Celeriac.Tests;

/// <summary>Heartbeats, remote control and task events in one process, on the in-memory stores and a fake clock.</summary>
public sealed class PresenceTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    /// <summary>An operations store whose heartbeat writes can be made to fail, as a dead or unreachable process's would.</summary>
    private sealed class SwitchableStore(IOperationsStore inner) : IOperationsStore
    {
        public volatile bool Failing;
        public int Puts;

        public ValueTask PutProcessAsync(string processId, string record, TimeSpan timeToLive, CancellationToken cancellationToken = default)
        {
            if (Failing) throw new IOException("store unreachable");
            Interlocked.Increment(ref Puts);
            return inner.PutProcessAsync(processId, record, timeToLive, cancellationToken);
        }

        public ValueTask RemoveProcessAsync(string processId, CancellationToken cancellationToken = default) => inner.RemoveProcessAsync(processId, cancellationToken);
        public ValueTask<IReadOnlyList<string>> GetProcessesAsync(CancellationToken cancellationToken = default) => inner.GetProcessesAsync(cancellationToken);
        public ValueTask AppendTaskEventsAsync(IReadOnlyList<TaskEventRecord> events, TimeSpan keepFor, int maxRecent, CancellationToken cancellationToken = default) => inner.AppendTaskEventsAsync(events, keepFor, maxRecent, cancellationToken);
        public ValueTask<IReadOnlyList<string>> GetTaskEventsAsync(string taskId, CancellationToken cancellationToken = default) => inner.GetTaskEventsAsync(taskId, cancellationToken);
        public ValueTask<IReadOnlyList<string>> GetRecentTasksAsync(int limit, CancellationToken cancellationToken = default) => inner.GetRecentTasksAsync(limit, cancellationToken);
    }

    private static WorkerHarness Harness(Action<CeleriacBuilder> configure, out SwitchableStore store, Action<WorkerOptions>? worker = null)
    {
        SwitchableStore? created = null;
        var h = new WorkerHarness(c =>
        {
            configure(c);
            // After UseInMemory, which registers its own.
            c.Services.AddSingleton<IOperationsStore>(sp => created = new SwitchableStore(new InMemoryOperationsStore(sp.GetRequiredService<TimeProvider>())));
        }, services =>
        {
            services.AddSingleton<IHostApplicationLifetime, ApplicationLifetime>();
            services.Configure<PresenceOptions>(o => o.Interval = Interval);
        }, worker);
        _ = h.Provider.GetRequiredService<IOperationsStore>();
        store = created!;
        return h;
    }

    private static IWorkerControl Control(WorkerHarness h) => h.Provider.GetRequiredService<IWorkerControl>();

    private static async Task<ProcessInfo> OnlyProcessAsync(WorkerHarness h, Func<ProcessInfo, bool> until) =>
        await Eventually.GetAsync(async () => await Control(h).GetProcessesAsync() is [var p] && until(p) ? p : null);

    [Fact]
    public async Task The_heartbeat_tells_who_runs_what_and_expires_after_three_missed_beats()
    {
        var release = new TaskCompletionSource();
        await using var h = Harness(c => c.MapTask("slow", async () => await release.Task), out var store, o => o.Queues = ["default", "io"]).Start();
        var presence = h.Provider.GetRequiredService<ProcessPresence>();
        var process = h.Provider.GetRequiredService<LocalProcess>();
        await presence.StartAsync(CancellationToken.None);

        var info = await OnlyProcessAsync(h, p => p.Roles.Contains("worker"));
        Assert.Equal(process.Id, info.Id);
        Assert.Equal(Environment.MachineName, info.Host);
        Assert.Equal(Environment.ProcessId, info.Pid);
        Assert.StartsWith($"{Environment.MachineName}:{Environment.ProcessId}:", info.Id, StringComparison.Ordinal);
        Assert.Equal(["default", "io"], info.Queues);
        Assert.Equal(4, info.Concurrency);
        Assert.Equal("running", info.Status);
        Assert.Equal(h.Time.GetUtcNow(), info.StartedAt);
        Assert.False(string.IsNullOrEmpty(info.Version));

        // A running task shows in the next beat, with its counters after it ends.
        var handle = await h.Client.SendAsync("slow");
        await Eventually.TrueAsync(() => h.Worker.InFlight().Count == 1);
        h.Time.Advance(Interval);
        info = await OnlyProcessAsync(h, p => p.InFlight.Count == 1);
        Assert.Equal(handle.Id, info.InFlight[0].Id);
        Assert.Equal("slow", info.InFlight[0].Task);
        release.SetResult();
        await h.WaitForStateAsync(handle.Id, TaskStates.Success);
        h.Time.Advance(Interval);
        info = await OnlyProcessAsync(h, p => p.InFlight.Count == 0 && p.Processed == 1);
        Assert.Equal(0, info.Failed);

        // The process stops writing (as if killed): gone once three intervals pass without a beat, not before.
        store.Failing = true;
        h.Time.Advance(Interval * 2);
        Assert.Single(await Control(h).GetProcessesAsync());
        h.Time.Advance(Interval);
        await Eventually.TrueAsync(async () => (await Control(h).GetProcessesAsync()).Count == 0);

        // A failing store never stopped the heartbeat loop: it is back on the next beat once the store works.
        store.Failing = false;
        h.Time.Advance(Interval);
        await OnlyProcessAsync(h, p => p.Id == process.Id);
        await presence.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_graceful_stop_says_goodbye()
    {
        await using var h = Harness(c => c.MapTask("noop", () => 1), out _).Start();
        var presence = h.Provider.GetRequiredService<ProcessPresence>();
        await presence.StartAsync(CancellationToken.None);
        await OnlyProcessAsync(h, p => p.Roles.Contains("worker"));
        await presence.StopAsync(CancellationToken.None);
        Assert.Empty(await Control(h).GetProcessesAsync());
    }

    [Fact]
    public async Task Ping_and_stop_are_answered_and_stop_asks_the_host_to_stop()
    {
        await using var h = Harness(c => c.MapTask("noop", () => 1), out _).Start();
        var listener = h.Provider.GetRequiredService<ControlListener>();
        var presence = h.Provider.GetRequiredService<ProcessPresence>();
        var id = h.Provider.GetRequiredService<LocalProcess>().Id;
        await presence.StartAsync(CancellationToken.None);
        await listener.StartAsync(CancellationToken.None);
        await OnlyProcessAsync(h, p => p.Roles.Contains("worker"));

        var all = await Control(h).PingAsync();
        var pong = Assert.Single(all);
        Assert.Equal(id, pong.ProcessId);
        Assert.True(pong.Ok);
        Assert.Contains("pong", pong.Message, StringComparison.Ordinal);
        Assert.Single(await Control(h).PingAsync(id));

        // Another id: nobody answers within the timeout (on the fake clock).
        var none = Control(h).PingAsync("elsewhere:1:abc", TimeSpan.FromSeconds(1)).AsTask();
        await h.AdvanceUntilAsync(none, TimeSpan.FromMilliseconds(200));
        Assert.Empty(await none);

        var lifetime = h.Provider.GetRequiredService<IHostApplicationLifetime>();
        var stopped = new TaskCompletionSource();
        using var onStop = lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        var reply = await Control(h).StopAsync(id);
        Assert.True(reply is { Ok: true }, reply?.Message);
        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await listener.StopAsync(CancellationToken.None);
        await presence.StopAsync(CancellationToken.None);
    }

    [Fact(Skip = "Times out in the full suite on a loaded 2-core machine (passes alone); under investigation. The process test A_worker_changes_concurrency_… covers a run-time concurrency change on SQLite and Redis.")]
    public async Task Concurrency_changes_at_run_time_and_the_next_heartbeat_shows_it()
    {
        var gate = new SemaphoreSlim(0);
        await using var h = Harness(c => c.MapTask("gated", async () => { await gate.WaitAsync(); return 1; }), out _, o => { o.Concurrency = 1; o.Prefetch = 2; }).Start();
        var listener = h.Provider.GetRequiredService<ControlListener>();
        var presence = h.Provider.GetRequiredService<ProcessPresence>();
        var id = h.Provider.GetRequiredService<LocalProcess>().Id;
        await presence.StartAsync(CancellationToken.None);
        await listener.StartAsync(CancellationToken.None);
        await OnlyProcessAsync(h, p => p.Concurrency == 1);

        var handles = new List<TaskHandle>();
        for (var i = 0; i < 5; i++) handles.Add(await h.Client.SendAsync("gated"));
        await Eventually.TrueAsync(() => h.Worker.InFlight().Count == 1 && h.Worker.Held == 3);

        var up = await Control(h).SetConcurrencyAsync(id, 3);
        Assert.True(up is { Ok: true }, up?.Message);
        Assert.Contains("1 -> 3", up!.Message, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => h.Worker.InFlight().Count == 3);
        await OnlyProcessAsync(h, p => p.Concurrency == 3 && p.InFlight.Count == 3);

        var down = await Control(h).SetConcurrencyAsync(id, 1);
        Assert.True(down is { Ok: true }, down?.Message);
        await OnlyProcessAsync(h, p => p.Concurrency == 1);
        // The three running finish; of the two left, only one runs at a time now.
        gate.Release(3);
        await Eventually.TrueAsync(() => handles.Count(x => h.Results.GetAsync(x.Id).AsTask().Result?.State == TaskStates.Success) == 3);
        await Eventually.TrueAsync(() => h.Worker.InFlight().Count == 1 && h.Worker.Held == 2);
        gate.Release(1);
        await Eventually.TrueAsync(() => handles.Count(x => h.Results.GetAsync(x.Id).AsTask().Result?.State == TaskStates.Success) == 4);
        await Eventually.TrueAsync(() => h.Worker.InFlight().Count == 1 && h.Worker.Held == 1);
        gate.Release(1);
        foreach (var handle in handles) Assert.Equal(1, await handle.GetAsync<int>(TimeSpan.FromSeconds(30)));

        var bad = Control(h).SetConcurrencyAsync("elsewhere:1:abc", 2, TimeSpan.FromSeconds(1)).AsTask();
        await h.AdvanceUntilAsync(bad, TimeSpan.FromMilliseconds(200));
        Assert.Null(await bad);
        await listener.StopAsync(CancellationToken.None);
        await presence.StopAsync(CancellationToken.None);
        // The worker's shutdown waits on timers of the fake clock (a receive's wait, the shutdown timeout): let it run.
        await h.AdvanceUntilAsync(h.StopAsync(), TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task A_revoked_running_task_has_its_token_fire_and_ends_revoked()
    {
        var started = new TaskCompletionSource();
        var sawCancel = new TaskCompletionSource();
        await using var h = Harness(c =>
        {
            c.MapTask("long", async (CancellationToken ct) =>
            {
                started.TrySetResult();
                try { await Task.Delay(Timeout.Infinite, ct); }
                catch (OperationCanceledException) { sawCancel.TrySetResult(); throw; }
            });
            c.MapTask("deaf", async () => { await new TaskCompletionSource().Task; }).TimeLimit(hard: TimeSpan.FromSeconds(10));
        }, out _).Start();
        var listener = h.Provider.GetRequiredService<ControlListener>();
        await listener.StartAsync(CancellationToken.None);
        var journal = h.Provider.GetRequiredService<TaskJournal>();

        var handle = await h.Client.SendAsync("long");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var replies = await Control(h).RevokeAsync(handle.Id);
        var reply = Assert.Single(replies);
        Assert.True(reply.Ok, reply.Message);
        await sawCancel.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var result = await h.WaitForStateAsync(handle.Id, TaskStates.Revoked);
        Assert.Equal("Revoked", result.Error!.Type);
        await h.QueueEmptyAsync();   // acked: not delivered again
        Assert.Empty(await h.Transport.GetDeadLettersAsync(10));

        // A task that ignores its token still ends at the hard limit, as REVOKED.
        var deaf = await h.Client.SendAsync("deaf");
        await Eventually.TrueAsync(() => h.Worker.InFlight().Any(t => t.Id == deaf.Id));
        Assert.True(Assert.Single(await Control(h).RevokeAsync(deaf.Id)).Ok);
        await h.AdvanceAsync(TimeSpan.FromSeconds(10), h.WaitForStateAsync(deaf.Id, TaskStates.Revoked));

        // One still waiting in its queue is removed there; no worker answers for it.
        var waiting = await h.Client.SendAsync("long", configure: o => o.Countdown = TimeSpan.FromHours(1));
        Assert.Empty(await Control(h).RevokeAsync(waiting.Id));
        Assert.Equal(TaskStates.Revoked, (await h.Results.GetAsync(waiting.Id))!.State);

        // Unknown: nobody answers.
        var unknown = Control(h).RevokeAsync("no-such-task", TimeSpan.FromSeconds(1)).AsTask();
        await h.AdvanceUntilAsync(unknown, TimeSpan.FromMilliseconds(200));
        Assert.Empty(await unknown);

        await journal.FlushAsync();
        var story = await h.Provider.GetRequiredService<ITaskHistory>().GetStoryAsync(handle.Id);
        Assert.Equal([TaskEventKinds.Sent, TaskEventKinds.Started, TaskEventKinds.Revoked], story.Select(e => e.Kind));
        Assert.Equal(TaskStates.Revoked, story[^1].State);
        Assert.Equal(TaskEventKinds.Revoked, (await h.Provider.GetRequiredService<ITaskHistory>().GetStoryAsync(waiting.Id))[^1].Kind);
        await listener.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Malformed_messages_on_the_control_group_are_ignored()
    {
        await using var h = Harness(c => c.MapTask("noop", () => 1), out _).Start();
        var listener = h.Provider.GetRequiredService<ControlListener>();
        await listener.StartAsync(CancellationToken.None);
        var channels = h.Provider.GetRequiredService<IChannelLayer>();
        await channels.GroupSendAsync("celeriac.control", new { type = "control.ping" });                                  // no id, no target
        await channels.GroupSendAsync("celeriac.control", new { type = "control.ping", id = 5, target = new[] { 1 } });     // wrong types
        await channels.GroupSendAsync("celeriac.control", new { type = "control.concurrency", id = "x", target = "*" });   // no value
        await channels.GroupSendAsync("celeriac.control", new { type = "control.concurrency", id = "y", target = "*", concurrency = -3 });
        await channels.GroupSendAsync("celeriac.control", new { type = "control.unknown", id = "z", target = "*" });
        await channels.GroupSendAsync("celeriac.control", JsonDocument.Parse("""{"type":"control.revoke","id":"r","target":"*","taskId":{"a":1}}""").RootElement);
        Assert.True(Assert.Single(await Control(h).PingAsync(h.Provider.GetRequiredService<LocalProcess>().Id)).Ok);
        Assert.Equal(4, h.Worker.Concurrency);
        await listener.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Success_retry_and_failure_are_recorded_as_task_events()
    {
        await using var h = Harness(c =>
        {
            c.MapTask("ok", () => 1);
            c.MapTask("flaky", (TaskContext ctx) => ctx.Retries == 0 ? throw new IOException("try again") : 2)
                .Retry(on: [typeof(IOException)], backoff: TimeSpan.FromSeconds(1), maxRetries: 3, jitter: false);
            c.MapTask("broken", int () => throw new InvalidOperationException("boom"));
        }, out _).Start();
        var journal = h.Provider.GetRequiredService<TaskJournal>();
        var history = h.Provider.GetRequiredService<ITaskHistory>();
        var process = h.Provider.GetRequiredService<LocalProcess>().Id;

        var ok = await h.Client.SendAsync("ok");
        var flaky = await h.Client.SendAsync("flaky");
        var broken = await h.Client.SendAsync("broken");
        await h.WaitForStateAsync(ok.Id, TaskStates.Success);
        await h.WaitForStateAsync(broken.Id, TaskStates.Failure);
        await h.WaitForStateAsync(flaky.Id, TaskStates.Retry);
        await h.AdvanceUntilAsync(h.WaitForStateAsync(flaky.Id, TaskStates.Success), TimeSpan.FromMilliseconds(500));
        await journal.FlushAsync();

        var story = await history.GetStoryAsync(ok.Id);
        Assert.Equal([TaskEventKinds.Sent, TaskEventKinds.Started, TaskEventKinds.Succeeded], story.Select(e => e.Kind));
        Assert.Equal([TaskStates.Pending, TaskStates.Started, TaskStates.Success], story.Select(e => e.State));
        Assert.All(story, e => Assert.Equal("default", e.Queue));
        Assert.All(story, e => Assert.Equal(process, e.Process));
        Assert.Equal(1, story[^1].Delivery);
        Assert.StartsWith("run ", story[^1].Detail, StringComparison.Ordinal);

        story = await history.GetStoryAsync(flaky.Id);
        Assert.Equal([TaskEventKinds.Sent, TaskEventKinds.Started, TaskEventKinds.Retried, TaskEventKinds.Started, TaskEventKinds.Succeeded], story.Select(e => e.Kind));
        var retried = story[2];
        Assert.Equal("IOException: try again", retried.Error);
        Assert.Contains("retry 1 of 3 at ", retried.Detail, StringComparison.Ordinal);
        Assert.Equal(0, retried.Retries);
        Assert.Equal(1, story[^1].Retries);

        story = await history.GetStoryAsync(broken.Id);
        Assert.Equal([TaskEventKinds.Sent, TaskEventKinds.Started, TaskEventKinds.Failed], story.Select(e => e.Kind));
        Assert.Equal("InvalidOperationException: boom", story[^1].Error);
        Assert.StartsWith("failed", story[^1].Detail, StringComparison.Ordinal);

        Assert.Equal(3, h.Worker.Processed);
        Assert.Equal(1, h.Worker.Failed);
        Assert.Equal(1, h.Worker.Retried);
        Assert.Equal([broken.Id], (await history.FindRecentAsync(state: TaskStates.Failure)).Select(e => e.TaskId));
    }
}
