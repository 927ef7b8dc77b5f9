using Microsoft.Extensions.Logging;

namespace Celeriac.Transport.Tests;

public sealed class ListenerQueueTests
{
    [Fact]
    public async Task A_listener_that_stops_reading_keeps_the_newest_events_and_the_drops_are_logged()
    {
        using var logs = new CollectingLoggerProvider();
        var queue = ListenerQueue.Create(logs.CreateLogger("test"));
        for (var i = 1; i <= ListenerQueue.Capacity + 5; i++)
            Assert.True(queue.Writer.TryWrite(new PublishedEvent("e" + i, "things.happened", "{}")));

        var (level, text) = Assert.Single(logs.Messages);
        Assert.Equal(LogLevel.Warning, level);
        Assert.Equal($"An event listener fell more than {ListenerQueue.Capacity} events behind; 1 oldest events dropped so far", text);
        Assert.Equal(ListenerQueue.Capacity, queue.Reader.Count);
        Assert.Equal("e6", (await queue.Reader.ReadAsync()).Id);
    }
}
