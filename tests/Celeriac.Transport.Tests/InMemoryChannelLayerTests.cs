namespace Celeriac.Transport.Tests;

public sealed class InMemoryChannelLayerTests : ChannelLayerContractTests
{
    protected override ChannelLayerHarness Open(TimeProvider time, Action<ChannelLayerOptions>? configure = null) =>
        new(c => c.UseInMemory(), time, configure);
}
