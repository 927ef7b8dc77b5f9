namespace Celeriac.Transport.Tests;

public sealed class InMemoryEventStoreTests : EventStoreContractTests
{
    protected override TransportHarness Open(TimeProvider time) => Fixtures.InMemory(time);
}
