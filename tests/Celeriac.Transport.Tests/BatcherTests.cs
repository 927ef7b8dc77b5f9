using Celeriac.Redis;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

public sealed class BatcherTests
{
    [Fact]
    public async Task A_flush_that_never_returns_fails_its_callers_after_the_timeout_and_later_batches_go_on()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var hung = new TaskCompletionSource<int[]>();
        var calls = 0;
        var batcher = new Batcher<int, int>(items => Interlocked.Increment(ref calls) == 1 ? hung.Task : Task.FromResult(items.Select(i => i * 10).ToArray()),
            maxBatch: 10, TimeSpan.FromSeconds(10), time);

        var first = batcher.AddAsync(1);
        var waiting = batcher.AddAsync(2);                        // gathers behind the batch on its way
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(first.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<TimeoutException>(() => first);
        Assert.Equal(20, await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(30, await batcher.AddAsync(3).WaitAsync(TimeSpan.FromSeconds(5)));
        hung.SetException(new InvalidOperationException("the lost call fails late"));   // observed, not unobserved
    }
}
