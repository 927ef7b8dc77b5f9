using System.Collections.Concurrent;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Tests;

public sealed class WorkerTests
{
    [Fact]
    public async Task Runs_a_task_and_the_caller_awaits_its_result()
    {
        await using var h = new WorkerHarness(c => c.MapTask("math.add", (int a, int b) => a + b)).Start();
        var handle = await h.Client.SendAsync("math.add", new { a = 2, b = 3 });
        Assert.Equal(5, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(TaskStates.Success, await handle.GetStateAsync());
    }

    [Fact]
    public async Task Retries_with_exponential_backoff_and_jitter_then_succeeds()
    {
        var attempts = 0;
        await using var h = new WorkerHarness(c => c.MapTask("flaky", (TaskContext ctx) =>
        {
            Interlocked.Increment(ref attempts);
            if (ctx.Retries < 2) throw new IOException($"try {ctx.Retries}");
            return ctx.Retries;
        }).Retry(on: [typeof(IOException)], backoff: TimeSpan.FromSeconds(10), maxRetries: 5)).Start();

        var handle = await h.Client.SendAsync("flaky");
        var sentAt = h.Time.GetUtcNow();
        var retry = await h.WaitForStateAsync(handle.Id, TaskStates.Retry);
        Assert.Equal("IOException", retry.Error!.Type);
        Assert.Equal("try 0", retry.Error.Message);
        Assert.Equal(1, retry.Retries);

        // Full jitter: the first retry is due within [0, 10 s] of the failure, the second within [0, 20 s]. Each advance
        // comes after the failure has set its due time (RETRY is stored after that), never before.
        var ran = await h.AdvanceAsync(TimeSpan.FromSeconds(10),
            Eventually.TrueAsync(async () => await h.Results.GetAsync(handle.Id) is { State: TaskStates.Retry, Retries: 2 }));
        ran += await h.AdvanceAsync(TimeSpan.FromSeconds(20), h.WaitForStateAsync(handle.Id, TaskStates.Success));
        Assert.Equal(2, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, attempts);
        // Less the time the clock ran on while the worker reacted, it took at most the two backoffs.
        Assert.True(h.Time.GetUtcNow() - sentAt - ran <= TimeSpan.FromSeconds(30), $"{h.Time.GetUtcNow() - sentAt} in all, {ran} of it while the worker reacted");
    }

    [Fact]
    public async Task After_the_last_retry_the_message_is_dead_lettered_with_its_exception()
    {
        await using var h = new WorkerHarness(c => c.MapTask("doomed", (TaskContext ctx) =>
        {
            throw new IOException($"disk on fire (try {ctx.Retries})");
#pragma warning disable CS0162 // unreachable: gives the delegate a return type
            return 0;
#pragma warning restore CS0162
        }).Retry(on: [typeof(IOException)], backoff: TimeSpan.FromSeconds(1), maxRetries: 2, jitter: false)).Start();

        var handle = await h.Client.SendAsync("doomed");
        var failed = h.WaitForStateAsync(handle.Id, TaskStates.Failure);
        await h.AdvanceUntilAsync(failed, TimeSpan.FromSeconds(1));   // the backoffs: 1 s, then 2 s
        var failure = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, failure!.State);
        Assert.Equal(2, failure.Retries);
        var dead = Assert.Single(await h.DeadLettersAsync(1));
        Assert.Equal(handle.Id, dead.Id);
        Assert.Equal("max-retries", dead.Info.Reason);
        Assert.Equal("IOException", dead.Info.ErrorType);
        Assert.Equal("disk on fire (try 2)", dead.Info.ErrorMessage);
        Assert.Contains("WorkerTests", dead.Info.StackTrace, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync<int>(TimeSpan.FromSeconds(1)));
        Assert.Equal("IOException", error.Result.Error!.Type);
    }

    [Fact]
    public async Task Exceptions_the_policy_does_not_name_fail_at_once()
    {
        await using var h = new WorkerHarness(c => c.MapTask("bad", int () => throw new InvalidOperationException("no"))
            .Retry(on: [typeof(IOException)], maxRetries: 5)).Start();
        var handle = await h.Client.SendAsync("bad");
        var r = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, r!.State);
        Assert.Equal(0, r.Retries);
        Assert.Equal("failed", Assert.Single(await h.DeadLettersAsync(1)).Info.Reason);
    }

    [Fact]
    public async Task Manual_retry_uses_its_own_countdown()
    {
        await using var h = new WorkerHarness(c => c.MapTask("poll", (TaskContext ctx) =>
        {
            if (ctx.Retries == 0) throw ctx.Retry(TimeSpan.FromMinutes(5));
            return "done";
        })).Start();
        var handle = await h.Client.SendAsync("poll");
        await h.WaitForStateAsync(handle.Id, TaskStates.Retry);
        h.Time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(TaskStates.Retry, await handle.GetStateAsync());
        Assert.Equal(1, (await h.Transport.GetQueueStatsAsync()).Single().Delayed);
        await h.AdvanceAsync(TimeSpan.FromMinutes(1), h.WaitForStateAsync(handle.Id, TaskStates.Success));
        Assert.Equal("done", await handle.GetAsync<string>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Soft_time_limit_cancels_the_task_token()
    {
        var started = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("slow", async (CancellationToken ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }).TimeLimit(soft: TimeSpan.FromSeconds(5))).Start();
        var handle = await h.Client.SendAsync("slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        h.Time.Advance(TimeSpan.FromSeconds(5));
        var r = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, r!.State);
        Assert.Equal(nameof(TimeLimitExceededException), r.Error!.Type);
        Assert.Contains("soft time limit", r.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hard_time_limit_abandons_a_task_that_ignores_cancellation_and_frees_its_slot()
    {
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("stuck", async () => { started.TrySetResult(); await release.Task; }).TimeLimit(hard: TimeSpan.FromSeconds(10));
            c.MapTask("quick", () => 1);
        }, worker: o => { o.Concurrency = 1; o.Prefetch = 0; }).Start();
        var stuck = await h.Client.SendAsync("stuck");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var quick = await h.Client.SendAsync("quick");
        await h.AdvanceAsync(TimeSpan.FromSeconds(10), h.WaitForStateAsync(stuck.Id, TaskStates.Failure));
        var r = await stuck.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, r!.State);
        Assert.Contains("hard time limit", r.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(1, await quick.GetAsync<int>(TimeSpan.FromSeconds(10)));
        release.SetResult();
    }

    [Fact]
    public async Task Expired_messages_are_not_run_and_are_recorded_as_expired()
    {
        var ran = 0;
        await using var h = new WorkerHarness(c => c.MapTask("late", () => Interlocked.Increment(ref ran)));
        var handle = await h.Client.SendAsync("late", configure: o => { o.Countdown = TimeSpan.FromMinutes(2); o.ExpiresIn = TimeSpan.FromMinutes(1); });
        h.Start();
        await h.AdvanceAsync(TimeSpan.FromMinutes(2), h.WaitForStateAsync(handle.Id, TaskStates.Expired));
        var r = await handle.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Expired, r!.State);
        Assert.Equal(0, ran);
        Assert.Empty(await h.Transport.GetDeadLettersAsync(10));
        await h.QueueEmptyAsync();
    }

    [Fact]
    public async Task Countdown_delays_the_run()
    {
        await using var h = new WorkerHarness(c => c.MapTask("later", () => "ran")).Start();
        var handle = await h.Client.SendAsync("later", configure: o => o.Countdown = TimeSpan.FromSeconds(30));
        Assert.Equal(1, (await h.Transport.GetQueueStatsAsync()).Single().Delayed);
        Assert.Equal(TaskStates.Pending, await handle.GetStateAsync());
        await h.AdvanceAsync(TimeSpan.FromSeconds(30), h.WaitForStateAsync(handle.Id, TaskStates.Success));
        Assert.Equal("ran", await handle.GetAsync<string>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Unknown_task_malformed_and_oversized_messages_are_refused_and_the_worker_keeps_going()
    {
        await using var h = new WorkerHarness(c => c.MapTask("ok", () => "fine"), worker: o => o.Concurrency = 1).Start();
        await h.Transport.EnqueueAsync([new OutgoingMessage("m1", "default", 0, "{not json")]);
        await h.Transport.EnqueueAsync([new OutgoingMessage("m2", "default", 0, "[1,2,3]")]);
        await h.Transport.EnqueueAsync([new OutgoingMessage("m3", "default", 0, new string('x', 2 * 1024 * 1024))]);
        var unknown = await h.Client.SendAsync("no.such.task");
        var ok = await h.Client.SendAsync("ok");

        Assert.Equal("fine", await ok.GetAsync<string>(TimeSpan.FromSeconds(10)));
        var u = await unknown.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Failure, u!.State);
        Assert.Equal("NotRegistered", u.Error!.Type);
        var dead = (await h.DeadLettersAsync(4)).ToDictionary(d => d.Id, d => d.Info.Reason);
        Assert.Equal("malformed", dead["m1"]);
        Assert.Equal("malformed", dead["m2"]);
        Assert.Equal("too-large", dead["m3"]);
        Assert.Equal("unknown-task", dead[unknown.Id]);
        Assert.Equal("MalformedMessage", (await h.Results.GetAsync("m1"))!.Error!.Type);
    }

    [Fact]
    public async Task Oversized_sends_are_refused_and_large_ones_allowed()
    {
        await using var h = new WorkerHarness(c => c.MapTask("big", (string s) => s.Length));
        await Assert.ThrowsAsync<MessageTooLargeException>(async () => await h.Client.SendAsync("big", new { s = new string('x', 1024 * 1024) }));
        var handle = await h.Client.SendAsync("big", new { s = new string('x', 100 * 1024) });
        h.Start();
        Assert.Equal(100 * 1024, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Idempotency_key_drops_a_duplicate_send_and_returns_the_first_handle()
    {
        var runs = 0;
        await using var h = new WorkerHarness(c => c.MapTask("once", () => Interlocked.Increment(ref runs)));
        var first = await h.Client.SendAsync("once", configure: o => o.IdempotencyKey = "order-42");
        var second = await h.Client.SendAsync("once", configure: o => o.IdempotencyKey = "order-42");
        Assert.False(first.WasDuplicate);
        Assert.True(second.WasDuplicate);
        Assert.Equal(first.Id, second.Id);
        h.Start();
        await first.GetAsync<int>(TimeSpan.FromSeconds(10));
        h.Time.Advance(TimeSpan.FromHours(1));
        var third = await h.Client.SendAsync("once", configure: o => o.IdempotencyKey = "order-42");
        Assert.False(third.WasDuplicate);
        await third.GetAsync<int>(TimeSpan.FromSeconds(10));
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task Ignore_result_stores_nothing()
    {
        var ran = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("fire", () => { ran.SetResult(); return 1; }).IgnoreResult()).Start();
        var handle = await h.Client.SendAsync("fire");
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => h.Worker.Held == 0);
        Assert.Equal(TaskStates.Pending, await handle.GetStateAsync());
    }

    [Fact]
    public async Task Track_started_stores_started_while_running()
    {
        var release = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("work", async () => { await release.Task; return 1; }), worker: o => o.TrackStarted = true).Start();
        var handle = await h.Client.SendAsync("work");
        await h.WaitForStateAsync(handle.Id, TaskStates.Started);
        release.SetResult();
        Assert.Equal(1, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Long_tasks_keep_their_lease_by_renewal()
    {
        var release = new TaskCompletionSource();
        var starts = 0;
        await using var h = new WorkerHarness(c => c.MapTask("long", async () => { Interlocked.Increment(ref starts); await release.Task; return 1; }),
            worker: o => o.LeaseDuration = TimeSpan.FromSeconds(30)).Start();
        var handle = await h.Client.SendAsync("long");
        await Eventually.TrueAsync(() => Volatile.Read(ref starts) == 1);
        for (var i = 0; i < 12; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(10));
            await Task.Yield();
            await Eventually.TrueAsync(() => h.Time.GetUtcNow() > DateTimeOffset.MinValue); // let the renewer run
        }
        // Two minutes passed, four times the lease: still one run, and no other worker could take it.
        var leasedByOther = await h.Transport.ReceiveAsync(["default"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero);
        Assert.Empty(leasedByOther);
        release.SetResult();
        Assert.Equal(1, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, starts);
    }

    [Fact]
    public async Task A_message_whose_lease_ran_out_is_delivered_again()
    {
        var seen = new ConcurrentQueue<int>();
        await using var h = new WorkerHarness(c => c.MapTask("t", (TaskContext ctx) => { seen.Enqueue(ctx.DeliveryCount); return ctx.DeliveryCount; }));
        var handle = await h.Client.SendAsync("t");
        // A worker that dies: it received the message and never acked.
        var taken = await h.Transport.ReceiveAsync(["default"], 1, TimeSpan.FromSeconds(30), TimeSpan.Zero);
        Assert.Single(taken);
        h.Start();
        Assert.Equal(1, (await h.Transport.GetQueueStatsAsync()).Single().Leased);
        Assert.Equal(TaskStates.Pending, await handle.GetStateAsync());
        await h.AdvanceAsync(TimeSpan.FromSeconds(30), h.WaitForStateAsync(handle.Id, TaskStates.Success));
        Assert.Equal(2, await handle.GetAsync<int>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Shutdown_lets_running_tasks_finish_and_releases_those_not_started()
    {
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("t", async (int n) => { if (n == 0) { started.SetResult(); await release.Task; } return n; }),
            worker: o => { o.Concurrency = 1; o.Prefetch = 3; });
        var first = await h.Client.SendAsync("t", new[] { 0 });
        var rest = new List<TaskHandle>();
        for (var i = 1; i <= 3; i++) rest.Add(await h.Client.SendAsync("t", new[] { i }));
        h.Start();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => h.Worker.Held == 4);
        var stopping = h.StopAsync();
        await Eventually.TrueAsync(() => h.Transport.GetQueueStatsAsync().AsTask().Result.Single().Ready == 3);
        Assert.False(stopping.IsCompleted);
        release.SetResult();
        await stopping;
        Assert.Equal(0, await first.GetAsync<int>(TimeSpan.FromSeconds(5)));
        foreach (var r in rest) Assert.Equal(TaskStates.Pending, await r.GetStateAsync());
    }

    [Fact]
    public async Task Shutdown_timeout_cancels_and_releases_running_tasks()
    {
        var started = new TaskCompletionSource();
        await using var h = new WorkerHarness(c => c.MapTask("t", async (CancellationToken ct) => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); }),
            worker: o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        var handle = await h.Client.SendAsync("t");
        h.Start();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The task itself never ends, so only the shutdown timeout can end the stop.
        await h.AdvanceUntilAsync(h.StopAsync(), TimeSpan.FromSeconds(10));
        Assert.Equal(TaskStates.Pending, await handle.GetStateAsync());
        Assert.Equal(1, (await h.Transport.GetQueueStatsAsync()).Single().Ready);
    }

    [Fact]
    public async Task Higher_priority_runs_first()
    {
        var order = new ConcurrentQueue<string>();
        await using var h = new WorkerHarness(c => c.MapTask("t", (string s) => order.Enqueue(s)), worker: o => { o.Concurrency = 1; o.Prefetch = 0; });
        await h.Client.SendAsync("t", "low");
        await h.Client.SendAsync("t", "high", o => o.Priority = 5);
        var last = await h.Client.SendAsync("t", "low2");
        h.Start();
        await last.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["high", "low", "low2"], order.ToArray());
    }

    [Fact]
    public async Task Worker_consumes_only_its_queues()
    {
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("io.fetch", () => "io").Queue("io");
            c.MapTask("cpu.crunch", () => "cpu");
        }, worker: o => o.Queues = ["io"]).Start();
        var io = await h.Client.SendAsync("io.fetch");
        var cpu = await h.Client.SendAsync("cpu.crunch");
        Assert.Equal("io", await io.GetAsync<string>(TimeSpan.FromSeconds(10)));
        Assert.Equal(TaskStates.Pending, await cpu.GetStateAsync());
        Assert.Equal(1, (await h.Transport.GetQueueStatsAsync()).Single(s => s.Queue == "default").Ready);
    }

    [Fact]
    public async Task Revoke_removes_a_waiting_task_and_records_revoked()
    {
        var ran = new ConcurrentQueue<string>();
        await using var h = new WorkerHarness(c => c.MapTask("t", (string name) => ran.Enqueue(name))).Start();
        var revokedLater = await h.Client.SendAsync("t", "revoked", o => o.Countdown = TimeSpan.FromMinutes(5));
        var keptLater = await h.Client.SendAsync("t", "kept", o => o.Countdown = TimeSpan.FromMinutes(5));

        Assert.True(await h.Client.RevokeAsync(revokedLater.Id));
        Assert.False(await h.Client.RevokeAsync(revokedLater.Id));
        Assert.False(await h.Client.RevokeAsync("no-such-task"));
        var revoked = await revokedLater.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(TaskStates.Revoked, revoked!.State);
        await Assert.ThrowsAsync<TaskFailedException>(() => revokedLater.GetAsync<int>(TimeSpan.FromSeconds(1)));

        var kept = h.WaitForStateAsync(keptLater.Id, TaskStates.Success, TaskStates.Failure);   // real time: the clock jumps
        await h.AdvanceUntilAsync(kept, TimeSpan.FromMinutes(5));
        Assert.Equal(TaskStates.Success, (await kept).State);
        Assert.Equal(["kept"], ran.ToArray());
    }

    [Fact]
    public async Task Revoking_a_chain_head_fails_the_later_steps()
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", () => 1));
        var head = new TaskSignature("t");
        var tail = await h.Client.ChainAsync([head, new TaskSignature("t")]);
        Assert.True(await h.Client.RevokeAsync(head.Id));
        var r = await tail.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(TaskStates.Failure, r!.State);
        Assert.Equal("ChainAborted", r.Error!.Type);
    }

    [Fact]
    public async Task A_task_held_by_a_worker_cannot_be_revoked()
    {
        await using var h = new WorkerHarness(c => c.MapTask("t", () => 1));
        var handle = await h.Client.SendAsync("t");
        Assert.Single(await h.Transport.ReceiveAsync(["default"], 1, TimeSpan.FromSeconds(30), TimeSpan.Zero));
        Assert.False(await h.Client.RevokeAsync(handle.Id));
    }

    [Fact]
    public async Task A_result_write_that_fails_is_never_acked_and_the_task_runs_again_after_its_lease()
    {
        var runs = 0;
        ResultStoreFailingOnce? store = null;
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("t", (TaskContext ctx) => { Interlocked.Increment(ref runs); return ctx.DeliveryCount; });
            c.Services.AddSingleton<IResultStore>(sp => store = new ResultStoreFailingOnce(new Celeriac.Memory.InMemoryResultStore(sp.GetRequiredService<TimeProvider>())));
        }).Start();
        var handle = await h.Client.SendAsync("t");
        await Eventually.TrueAsync(() => store is { Failed: 1 });

        // The ack waits for the result: the message stays leased (not deleted with no result), its lease runs out,
        // and the second delivery stores SUCCESS.
        var done = h.WaitForStateAsync(handle.Id, TaskStates.Success);
        await h.AdvanceUntilAsync(done, TimeSpan.FromSeconds(5));
        Assert.Equal(2, await handle.GetAsync<int>(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, runs);
        await h.QueueEmptyAsync();
    }

    /// <summary>A result store whose first SUCCESS write fails after a yield, as a store that lost its connection does.</summary>
    private sealed class ResultStoreFailingOnce(IResultStore inner) : IResultStore
    {
        private int _failed;

        public int Failed => Volatile.Read(ref _failed);

        public async ValueTask SetAsync(TaskResult result, DateTimeOffset? expiresAt, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            if (result.State == TaskStates.Success && Interlocked.CompareExchange(ref _failed, 1, 0) == 0)
                throw new IOException("The result store dropped the connection.");
            await inner.SetAsync(result, expiresAt, cancellationToken);
        }

        public ValueTask<TaskResult?> GetAsync(string id, CancellationToken cancellationToken = default) => inner.GetAsync(id, cancellationToken);

        public ValueTask<TaskResult?> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default) => inner.WaitAsync(id, timeout, cancellationToken);
    }
}
