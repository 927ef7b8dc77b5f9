namespace Celeriac.Tests;

public sealed class RetryPolicyTests
{
    [Fact]
    public void Backoff_doubles_per_retry_and_is_capped()
    {
        var policy = new RetryPolicy { Backoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(10), Jitter = false };
        Assert.Equal(TimeSpan.FromSeconds(1), policy.DelayFor(0, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(2), policy.DelayFor(1, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(8), policy.DelayFor(3, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.DelayFor(4, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.DelayFor(1000, 0.5));
    }

    [Fact]
    public void Full_jitter_draws_between_zero_and_the_exponential_delay()
    {
        var policy = new RetryPolicy { Backoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromMinutes(1), Jitter = true };
        Assert.Equal(TimeSpan.Zero, policy.DelayFor(2, 0));
        Assert.Equal(TimeSpan.FromSeconds(2), policy.DelayFor(2, 0.5));
        var random = new Random(42);
        for (var i = 0; i < 1000; i++)
        {
            var delay = policy.DelayFor(3, random.NextDouble());
            Assert.InRange(delay, TimeSpan.Zero, TimeSpan.FromSeconds(8));
        }
    }

    [Fact]
    public void Handles_named_exception_types_and_their_subtypes()
    {
        var policy = new RetryPolicy { On = [typeof(IOException)] };
        Assert.True(policy.Handles(new IOException()));
        Assert.True(policy.Handles(new FileNotFoundException()));
        Assert.False(policy.Handles(new InvalidOperationException()));
    }
}
