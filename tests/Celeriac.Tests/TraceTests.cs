using System.Collections.Concurrent;
using System.Diagnostics;
using Celeriac.Transport;

namespace Celeriac.Tests;

/// <summary>W3C trace context from the send to the worker, carried only by the envelope's <c>traceparent</c>.</summary>
public sealed class TraceTests
{
    private static readonly ActivitySource Requests = new("Celeriac.Tests.Requests");

    [Fact]
    public async Task The_workers_span_is_a_child_of_the_send_which_is_a_child_of_the_request()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is CeleriacDiagnostics.Name or "Celeriac.Tests.Requests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var h = new WorkerHarness(c => c.MapTask("traced", () => Activity.Current?.TraceId.ToString()));
        h.Start();

        TaskHandle handle;
        ActivityTraceId requestTrace;
        using (var request = Requests.StartActivity("GET /switch", ActivityKind.Server))
        {
            Assert.NotNull(request);
            requestTrace = request.TraceId;
            // The worker runs on its own loop, started before the request: nothing but the message links the two.
            handle = await h.Client.SendAsync("traced");
        }
        var result = await h.WaitForStateAsync(handle.Id, TaskStates.Success);
        Assert.Equal($"\"{requestTrace}\"", result.Result);

        Activity? Tagged(string name) => stopped.FirstOrDefault(a => a.OperationName == name && (string?)a.GetTagItem("celeriac.task.id") == handle.Id);
        var send = await Eventually.GetAsync(() => Task.FromResult(Tagged("celeriac.send traced")));
        var run = await Eventually.GetAsync(() => Task.FromResult(Tagged("celeriac.task traced")));
        Assert.Equal(ActivityKind.Producer, send.Kind);
        Assert.Equal(ActivityKind.Consumer, run.Kind);
        Assert.Equal(requestTrace, send.TraceId);
        Assert.Equal(requestTrace, run.TraceId);
        Assert.Equal(send.SpanId, run.ParentSpanId);
        Assert.True(run.HasRemoteParent);
    }

    [Theory]
    [InlineData("pager")]   // durable: the worker's celeriac.task span
    [InlineData(null)]      // ephemeral: the event host's celeriac.event span
    public async Task An_events_handler_span_is_a_child_of_the_publish_which_is_a_child_of_the_request(string? durable)
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is CeleriacDiagnostics.Name or "Celeriac.Tests.Requests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var handled = new ConcurrentQueue<string?>();
        var probes = 0;
        await using var h = new WorkerHarness(c => c.MapSubscription("alerts.>", (EventContext ctx) =>
        {
            if (ctx.Subject == "alerts.probe") Interlocked.Increment(ref probes);
            else handled.Enqueue(Activity.Current?.TraceId.ToString());
        }, durable));
        await h.StartEventsAsync();
        h.Start();
        // An ephemeral listener sees only what is published once it listens.
        await Eventually.TrueAsync(async () =>
        {
            await h.Events.PublishAsync("alerts.probe");
            return Volatile.Read(ref probes) > 0;
        });

        PublishReceipt receipt;
        ActivityTraceId requestTrace;
        using (var request = Requests.StartActivity("POST /alerts", ActivityKind.Server))
        {
            Assert.NotNull(request);
            requestTrace = request.TraceId;
            receipt = await h.Events.PublishAsync("alerts.disk", new { used = 97 });
        }
        await Eventually.TrueAsync(() => !handled.IsEmpty);
        Assert.Equal(requestTrace.ToString(), Assert.Single(handled));

        Activity? Find(string prefix) => stopped.FirstOrDefault(a => a.OperationName.StartsWith(prefix, StringComparison.Ordinal)
            && ((string?)a.GetTagItem("celeriac.event.id") ?? (string?)a.GetTagItem("celeriac.task.id")) == receipt.Id);
        var publish = await Eventually.GetAsync(() => Task.FromResult(Find("celeriac.publish alerts.disk")));
        var run = await Eventually.GetAsync(() => Task.FromResult(Find(durable is null ? "celeriac.event alerts.disk" : "celeriac.task alerts.disk")));
        Assert.Equal(ActivityKind.Producer, publish.Kind);
        Assert.Equal(ActivityKind.Consumer, run.Kind);
        Assert.Equal(requestTrace, publish.TraceId);
        Assert.Equal(requestTrace, run.TraceId);
        Assert.Equal(publish.SpanId, run.ParentSpanId);
        Assert.True(run.HasRemoteParent);
    }
}
