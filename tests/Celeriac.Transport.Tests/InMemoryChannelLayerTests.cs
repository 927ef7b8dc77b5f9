using Celeriac.Memory;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.Transport.Tests;

public sealed class InMemoryChannelLayerTests : ChannelLayerContractTests
{
    protected override ChannelLayerHarness Open(TimeProvider time, Action<ChannelLayerOptions>? configure = null) =>
        new(c => c.UseInMemory(), time, configure);

    [Fact]
    public async Task Idle_groups_are_forgotten_once_their_history_ran_out_and_a_returning_client_is_told_to_reload()
    {
        var time = new FakeTimeProvider(Start);
        await using var h = Open(time, o => o.HistoryWindow = TimeSpan.FromMinutes(5));
        var layer = (InMemoryChannelLayer)h.Layer;
        var watched = new Recorder();
        await using var subscription = await layer.SubscribeAsync("watched", watched.OnMessageAsync);
        for (var user = 0; user < 1000; user++) await SendAsync(layer, "user_" + user, 1, 2);
        await SendAsync(layer, "watched", 1);
        Assert.Equal(1001, layer.GroupCount);

        time.Advance(TimeSpan.FromMinutes(6));
        await SendAsync(layer, "fresh", 1);

        Assert.Equal(2, layer.GroupCount);                              // "watched" has a subscriber, "fresh" is new
        AssertHistory(false, 0, [], await layer.ReadHistoryAsync("user_7", 1));
        Assert.Equal(2, (await layer.GroupSendAsync("watched", Msg(2))).Offset);
    }
}
