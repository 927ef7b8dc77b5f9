using System.Net;

namespace CleanEnergy.VendorCloud.Tests.Trouble;

/// <summary>Failures: a fraction of API calls answered 500, 502 or 503 without effect.</summary>
public sealed class FailureTests
{
    private static readonly string[] ApiPaths = ["api/v1/devices", "api/v1/devices/vx-1001", "api/v1/devices/vx-1003", "api/v1/grid/intensity"];

    [Fact]
    public async Task FailureRate_1_fails_every_api_call_with_a_5xx_and_no_effect()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { FailureRate = 1.0 });

        var statuses = new List<int>();
        for (var i = 0; i < 40; i++)
        {
            using var response = await cloud.Http.GetAsync(ApiPaths[i % ApiPaths.Length]);
            statuses.Add((int)response.StatusCode);
            var problem = await Cloud.AssertProblemAsync(response, (int)response.StatusCode);
            Assert.Equal("Simulated failure", problem.GetProperty("title").GetString());
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                Assert.NotNull(response.Headers.RetryAfter);
        }
        using (var refused = await cloud.PostAsync("api/v1/devices/vx-1004/power", """{"on": true}"""))
            statuses.Add((int)refused.StatusCode);

        Assert.All(statuses, s => Assert.Contains(s, new[] { 500, 502, 503 }));
        Assert.True(statuses.Distinct().Count() >= 2, "only one failure status");
        cloud.Handle.Trouble.Set(new TroubleSettings());
        Assert.False((await cloud.GetJsonAsync("api/v1/devices/vx-1004")).GetProperty("on").GetBoolean());   // the failed switch did nothing
    }

    [Fact]
    public async Task FailureRate_0_3_fails_about_30_percent_of_calls()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { FailureRate = 0.3 });

        var failures = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 500), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var response = await cloud.Http.GetAsync(ApiPaths[i % ApiPaths.Length], ct);
            if ((int)response.StatusCode >= 500)
                Interlocked.Increment(ref failures);
            else
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });

        Assert.InRange(failures, 105, 195);     // expected 150, σ ≈ 10
        Assert.Equal(failures, cloud.Handle.GetCalls().Count(c => c.Trouble == CallTrouble.Failure));
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_sequence_of_trouble()
    {
        static async Task<string> RunAsync(int seed)
        {
            await using var cloud = await Cloud.StartAsync(o => (o.Seed, o.Trouble) = (seed, new TroubleSettings { FailureRate = 0.5 }));
            var statuses = new List<int>();
            for (var i = 0; i < 40; i++)
            {
                using var response = await cloud.Http.GetAsync("api/v1/grid/intensity");
                statuses.Add((int)response.StatusCode);
            }
            return string.Join(",", statuses);
        }

        var first = await RunAsync(7);
        Assert.Equal(first, await RunAsync(7));
        Assert.NotEqual(first, await RunAsync(8));
    }
}
