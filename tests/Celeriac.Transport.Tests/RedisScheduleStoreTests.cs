namespace Celeriac.Transport.Tests;

[Collection(RedisCollection.Name)]
public sealed class RedisScheduleStoreTests(RedisServer redis) : ScheduleStoreContractTests
{
    private string? _prefix;

    protected override TransportHarness Open(TimeProvider time) => Fixtures.Redis(redis, time, _prefix = redis.NewPrefix());

    /// <summary>A second connection with the same key prefix, as another process would have.</summary>
    protected override TransportHarness OpenSecond(TransportHarness first) => Fixtures.Redis(redis, first.Time, _prefix);
}
