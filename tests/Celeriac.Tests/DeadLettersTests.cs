using System.Text.Json;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Tests;

public sealed class DeadLettersTests
{
    [Fact]
    public async Task Failed_tasks_are_listed_with_their_reasons_then_a_filtered_requeue_runs_them_again_to_success()
    {
        var broken = true;
        await using var h = new WorkerHarness(c =>
        {
            c.MapTask("vendor.poll", (int deviceId, TaskContext ctx) =>
            {
                if (Volatile.Read(ref broken)) throw new IOException($"vendor down for device {deviceId}");
                return ctx.Retries;
            }).Retry(on: [typeof(IOException)], backoff: TimeSpan.FromSeconds(1), maxRetries: 1, jitter: false);
            c.MapTask("reports.build", int () => throw new InvalidOperationException("no template"));
        }).Start();
        var deadLetters = h.Provider.GetRequiredService<IDeadLetters>();

        var polls = new List<TaskHandle>();
        for (var device = 1; device <= 3; device++) polls.Add(await h.Client.SendAsync("vendor.poll", new { deviceId = device }));
        var report = await h.Client.SendAsync("reports.build");
        var allFailed = Task.WhenAll(polls.Select(p => h.WaitForStateAsync(p.Id, TaskStates.Failure)).Append(h.WaitForStateAsync(report.Id, TaskStates.Failure)));
        await h.AdvanceUntilAsync(allFailed, TimeSpan.FromSeconds(1));
        await h.DeadLettersAsync(4);

        // Listed with their reasons, filtered by task name (from the envelope), reason and text.
        Assert.Equal(4, (await deadLetters.ListAsync(new DeadLetterFilter())).Count);
        var vendor = await deadLetters.ListAsync(new DeadLetterFilter { Task = "vendor.poll" });
        Assert.Equal(polls.Select(p => p.Id).Order(), vendor.Select(v => v.Id).Order());
        Assert.All(vendor, v => Assert.Equal(("max-retries", "IOException", 1, "default"), (v.Letter.Info.Reason, v.Letter.Info.ErrorType, v.Retries, v.Letter.Queue)));
        Assert.Equal(3, (await deadLetters.ListAsync(new DeadLetterFilter { Text = "VENDOR DOWN" })).Count);
        Assert.Equal([report.Id], (await deadLetters.ListAsync(new DeadLetterFilter { Reason = "failed" })).Select(v => v.Id));
        Assert.Single(await deadLetters.ListAsync(new DeadLetterFilter { Task = "vendor.poll", Limit = 1 }));
        Assert.Empty(await deadLetters.ListAsync(new DeadLetterFilter { Queue = "elsewhere" }));

        var one = await deadLetters.GetAsync(polls[1].Id);
        Assert.NotNull(one);
        Assert.Equal("vendor.poll", one.Task);
        Assert.Equal(2, JsonDocument.Parse(one.Kwargs!).RootElement.GetProperty("deviceId").GetInt32());
        Assert.Equal("vendor down for device 2", one.Letter.Info.ErrorMessage);
        Assert.Contains("Failed_tasks_are_listed", one.Letter.Info.StackTrace, StringComparison.Ordinal);
        Assert.Null(await deadLetters.GetAsync("no-such-task"));

        // The fault is fixed: requeue the vendor's tasks only. They run again with their retries reset, and succeed.
        Volatile.Write(ref broken, false);
        Assert.Equal(3, await deadLetters.RequeueAsync(new DeadLetterFilter { Task = "vendor.poll" }));
        foreach (var poll in polls)
        {
            Assert.Equal(0, await poll.GetAsync<int>(TimeSpan.FromSeconds(30)));
            Assert.Equal(0, (await h.Results.GetAsync(poll.Id))!.Retries);
        }
        Assert.Equal([report.Id], (await deadLetters.ListAsync(new DeadLetterFilter())).Select(v => v.Id));

        // Deletion removes what is left.
        Assert.Equal(1, await deadLetters.DeleteAsync(new DeadLetterFilter { Task = "reports.build" }));
        Assert.Empty(await deadLetters.ListAsync(new DeadLetterFilter()));
        Assert.Equal(0, await deadLetters.DeleteAsync(new DeadLetterFilter { Id = report.Id }));
        await h.QueueEmptyAsync();

        // The story keeps the failure: the requeue comes after any failure and before the success.
        var journal = h.Provider.GetRequiredService<TaskJournal>();
        await journal.FlushAsync();
        var story = (await h.Provider.GetRequiredService<ITaskHistory>().GetStoryAsync(polls[0].Id)).Select(e => e.Kind).ToList();
        var requeued = story.IndexOf(TaskEventKinds.Requeued);
        Assert.True(requeued >= 0, string.Join(", ", story));
        Assert.All(story.Select((kind, i) => (kind, i)).Where(e => e.kind == TaskEventKinds.Failed), e => Assert.True(e.i < requeued, string.Join(", ", story)));
        Assert.All(story.Select((kind, i) => (kind, i)).Where(e => e.kind == TaskEventKinds.Succeeded), e => Assert.True(e.i > requeued, string.Join(", ", story)));
    }

    [Fact]
    public async Task Requeue_resets_retries_sets_the_result_back_to_pending_and_journals_it()
    {
        await using var h = new WorkerHarness(_ => { });
        var deadLetters = h.Provider.GetRequiredService<IDeadLetters>();
        await BuryAsync(h, "t1", """{"id":"t1","task":"vendor.poll","args":[7],"kwargs":{"x":1},"retries":3,"eta":"2026-01-01T11:00:00+00:00"}""", "max-retries");
        await h.Results.SetAsync(new TaskResult("t1", "vendor.poll", TaskStates.Failure, null, new TaskError("IOException", "down", null), 3, h.Time.GetUtcNow()), null);

        var view = await deadLetters.GetAsync("t1");
        Assert.Equal(("vendor.poll", "[7]", """{"x":1}""", 3), (view!.Task, view.Args, view.Kwargs, view.Retries));
        Assert.Equal(1, await deadLetters.RequeueAsync(new DeadLetterFilter { Id = "t1" }));

        var pending = await h.Results.GetAsync("t1");
        Assert.Equal((TaskStates.Pending, 0, (TaskError?)null), (pending!.State, pending.Retries, pending.Error));
        var message = Assert.Single(await h.Transport.ReceiveAsync(["default"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero));
        Assert.Equal("t1", message.Id);
        using var body = JsonDocument.Parse(message.Body);
        Assert.Equal(("t1", "vendor.poll", 0, 7), (body.RootElement.GetProperty("id").GetString(), body.RootElement.GetProperty("task").GetString(),
            body.RootElement.GetProperty("retries").GetInt32(), body.RootElement.GetProperty("args")[0].GetInt32()));
        Assert.False(body.RootElement.TryGetProperty("eta", out _));

        await h.Provider.GetRequiredService<TaskJournal>().FlushAsync();
        var e = Assert.Single(await h.Provider.GetRequiredService<ITaskHistory>().GetStoryAsync("t1"));
        Assert.Equal((TaskEventKinds.Requeued, TaskStates.Pending, "default", "IOException: down"), (e.Kind, e.State, e.Queue, e.Error));
        Assert.Equal(0, await deadLetters.RequeueAsync(new DeadLetterFilter { Id = "t1" }));
    }

    [Fact]
    public async Task A_body_that_is_not_an_envelope_is_listed_and_deleted_but_never_requeued()
    {
        await using var h = new WorkerHarness(_ => { });
        var deadLetters = h.Provider.GetRequiredService<IDeadLetters>();
        await BuryAsync(h, "junk", "{not json", "malformed");
        await BuryAsync(h, "nameless", """{"id":"nameless","task":""}""", "malformed");
        await BuryAsync(h, "good", """{"id":"good","task":"a"}""", "failed");

        var listed = await deadLetters.ListAsync(new DeadLetterFilter { Reason = "malformed" });
        Assert.All(listed, v => Assert.Equal(("?", (string?)null, 0), (v.Task, v.Args, v.Retries)));
        Assert.Equal(["nameless", "junk"], listed.Select(v => v.Id));
        Assert.Equal(["nameless", "junk"], (await deadLetters.ListAsync(new DeadLetterFilter { Task = "?" })).Select(v => v.Id));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await deadLetters.RequeueAsync(new DeadLetterFilter { Id = "junk" }));
        Assert.Contains("cannot be requeued", refused.Message, StringComparison.Ordinal);
        // A bulk requeue skips them and requeues the rest.
        Assert.Equal(1, await deadLetters.RequeueAsync(new DeadLetterFilter()));
        Assert.Equal(["nameless", "junk"], (await deadLetters.ListAsync(new DeadLetterFilter())).Select(v => v.Id));

        Assert.Equal(1, await deadLetters.DeleteAsync(new DeadLetterFilter { Id = "junk" }));
        Assert.Equal(["nameless"], (await deadLetters.ListAsync(new DeadLetterFilter())).Select(v => v.Id));
    }

    [Fact]
    public async Task Since_and_until_select_by_failure_time()
    {
        await using var h = new WorkerHarness(_ => { });
        var deadLetters = h.Provider.GetRequiredService<IDeadLetters>();
        var start = h.Time.GetUtcNow();
        await BuryAsync(h, "early", """{"id":"early","task":"a"}""", "failed");
        h.Time.Advance(TimeSpan.FromHours(1));
        await BuryAsync(h, "late", """{"id":"late","task":"a"}""", "failed");

        Assert.Equal(["late"], (await deadLetters.ListAsync(new DeadLetterFilter { Since = start.AddMinutes(30) })).Select(v => v.Id));
        Assert.Equal(["early"], (await deadLetters.ListAsync(new DeadLetterFilter { Until = start.AddMinutes(30) })).Select(v => v.Id));
        Assert.Equal(["late", "early"], (await deadLetters.ListAsync(new DeadLetterFilter { Since = start, Until = start.AddHours(2) })).Select(v => v.Id));
        Assert.Equal(1, await deadLetters.DeleteAsync(new DeadLetterFilter { Until = start.AddMinutes(30) }));
        Assert.Equal(["late"], (await deadLetters.ListAsync(new DeadLetterFilter())).Select(v => v.Id));
    }

    /// <summary>Stores <paramref name="body"/> as message <paramref name="id"/> of the default queue and dead-letters it.</summary>
    private static async Task BuryAsync(WorkerHarness h, string id, string body, string reason)
    {
        await h.Transport.EnqueueAsync([new OutgoingMessage(id, "default", 0, body)]);
        var taken = Assert.Single(await h.Transport.ReceiveAsync(["default"], 10, TimeSpan.FromSeconds(30), TimeSpan.Zero));
        Assert.True(await h.Transport.DeadLetterAsync(taken, new DeadLetterInfo(reason, "IOException", "down", "at Poll()")));
    }
}
