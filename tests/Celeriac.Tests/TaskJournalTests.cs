using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Tests;

public sealed class TaskJournalTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static ServiceProvider Build(FakeTimeProvider time)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(time);
        services.AddCeleriac(c => c.UseInMemory());
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task Recorded_events_reach_the_store_in_order_and_read_back_as_the_story_and_the_recent_index()
    {
        var time = new FakeTimeProvider(Start);
        await using var provider = Build(time);
        var journal = provider.GetRequiredService<TaskJournal>();
        var history = provider.GetRequiredService<ITaskHistory>();

        journal.Record(new TaskEvent("t1", "tasks.a", TaskEventKinds.Sent, TaskStates.Pending, Start, Queue: "default"));
        journal.Record(new TaskEvent("t2", "tasks.b", TaskEventKinds.Sent, TaskStates.Pending, Start.AddSeconds(1)));
        journal.Record(new TaskEvent("t1", "tasks.a", TaskEventKinds.Succeeded, TaskStates.Success, Start.AddSeconds(2), Delivery: 1));
        await journal.FlushAsync();

        var story = await history.GetStoryAsync("t1");
        Assert.Equal([TaskEventKinds.Sent, TaskEventKinds.Succeeded], story.Select(e => e.Kind));
        Assert.Equal("default", story[0].Queue);
        Assert.Equal(1, story[1].Delivery);
        Assert.Equal(["t1", "t2"], (await history.FindRecentAsync()).Select(e => e.TaskId));
        Assert.Equal(["t2"], (await history.FindRecentAsync(state: TaskStates.Pending)).Select(e => e.TaskId));
        Assert.Equal(["t1"], (await history.FindRecentAsync(task: "tasks.a")).Select(e => e.TaskId));
    }

    [Fact]
    public async Task A_damaged_record_in_the_store_costs_only_itself()
    {
        var time = new FakeTimeProvider(Start);
        await using var provider = Build(time);
        var store = provider.GetRequiredService<IOperationsStore>();
        var journal = provider.GetRequiredService<TaskJournal>();
        await store.AppendTaskEventsAsync([new TaskEventRecord("t1", Start, "{not json")], TimeSpan.FromHours(1), 100);
        journal.Record(new TaskEvent("t1", "tasks.a", TaskEventKinds.Started, TaskStates.Started, Start.AddSeconds(1)));
        await journal.FlushAsync();

        var story = await provider.GetRequiredService<ITaskHistory>().GetStoryAsync("t1");
        Assert.Equal(TaskEventKinds.Started, Assert.Single(story).Kind);
    }

    [Fact]
    public async Task Events_past_the_queue_capacity_are_dropped_not_waited_for()
    {
        var time = new FakeTimeProvider(Start);
        await using var provider = Build(time);
        var journal = provider.GetRequiredService<TaskJournal>();
        for (var i = 0; i < 10_005; i++)
            journal.Record(new TaskEvent("t1", "tasks.a", TaskEventKinds.Retried, TaskStates.Retry, Start, Retries: i));
        await journal.FlushAsync();

        var story = await provider.GetRequiredService<ITaskHistory>().GetStoryAsync("t1");
        Assert.Equal(10_000, story.Count);
        Assert.Equal(9_999, story[^1].Retries);
    }
}
