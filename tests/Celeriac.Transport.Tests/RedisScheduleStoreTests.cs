using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.Transport.Tests;

[Collection(RedisCollection.Name)]
public sealed class RedisScheduleStoreTests(RedisServer redis) : ScheduleStoreContractTests
{
    private string? _prefix;

    protected override TransportHarness Open(TimeProvider time) => Fixtures.Redis(redis, time, _prefix = redis.NewPrefix());

    /// <summary>A second connection with the same key prefix, as another process would have.</summary>
    protected override TransportHarness OpenSecond(TransportHarness first) => Fixtures.Redis(redis, first.Time, _prefix);

    protected override IReadOnlyList<string> Damages =>
        ["string key", "list key", "no def", "no updated", "tick = soon", "tick = 1e400", "tick = 99999999999999999", "updated = -", "fired = 99999999999999999999"];

    protected override async Task DamageAsync(TransportHarness h, string name, string damage)
    {
        var connection = h.Services.GetRequiredService<Celeriac.Redis.RedisConnection>();
        var db = await connection.DatabaseAsync();
        StackExchange.Redis.RedisKey key = connection.Keys.Transport + "schedule:" + name;
        switch (damage)
        {
            case "string key":
                await db.KeyDeleteAsync(key);
                await db.StringSetAsync(key, "garbage");
                break;
            case "list key":
                await db.KeyDeleteAsync(key);
                await db.ListRightPushAsync(key, "garbage");
                break;
            case var _ when damage.StartsWith("no ", StringComparison.Ordinal):
                Assert.True(await db.HashDeleteAsync(key, damage[3..]));
                break;
            default:
                var parts = damage.Split(" = ");
                await db.HashSetAsync(key, parts[0], parts[1]);
                break;
        }
    }
}
