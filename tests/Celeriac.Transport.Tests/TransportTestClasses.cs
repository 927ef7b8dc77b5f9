namespace Celeriac.Transport.Tests;

public sealed class InMemoryTransportTests : TransportContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.InMemory(time);
}

public sealed class SqliteTransportTests : TransportContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.SqliteTemp(time);
}

[Collection(RedisCollection.Name)]
public sealed class RedisTransportTests(RedisServer redis) : TransportContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.Redis(redis, time);
}
