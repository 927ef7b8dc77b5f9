namespace CleanEnergy.VendorCloud.Tests.Trouble;

public sealed class CallLogTests
{
    [Fact]
    public async Task Api_calls_are_logged_with_path_status_duration_and_trouble()
    {
        var (cloud, time) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        await cloud.GetJsonAsync("api/v1/devices/vx-1001");
        using (await cloud.Http.GetAsync("api/v1/devices/vx-9999")) { }
        using (await cloud.PostAsync("api/v1/devices/vx-1001/power", "nonsense")) { }
        await cloud.SwitchAsync("vx-1001", false);
        await cloud.PutJsonAsync("admin/devices/vx-1002/offline", """{"offline": true}""");
        using (await cloud.Http.GetAsync("api/v1/devices/vx-1002")) { }

        var log = await cloud.GetJsonAsync("admin/calls");
        Assert.Equal(5, log.GetProperty("total").GetInt64());
        var calls = log.GetProperty("calls").EnumerateArray().ToList();
        Assert.Equal(
            [("GET", "/api/v1/devices/vx-1001", 200, "none"), ("GET", "/api/v1/devices/vx-9999", 404, "none"),
             ("POST", "/api/v1/devices/vx-1001/power", 400, "none"), ("POST", "/api/v1/devices/vx-1001/power", 200, "none"),
             ("GET", "/api/v1/devices/vx-1002", 504, "offline")],
            calls.Select(c => (c.GetProperty("method").GetString(), c.GetProperty("path").GetString(), c.GetProperty("status").GetInt32(), c.GetProperty("trouble").GetString())));
        Assert.All(calls, c => Assert.Equal(time.GetUtcNow(), c.GetProperty("at").GetDateTimeOffset()));
        Assert.All(calls, c => Assert.Equal(0, c.GetProperty("durationMs").GetDouble()));    // the fake clock did not move
        Assert.All(calls, c => Assert.False(c.GetProperty("clientAborted").GetBoolean()));

        var lastTwo = (await cloud.GetJsonAsync("admin/calls?limit=2")).GetProperty("calls").EnumerateArray().ToList();
        Assert.Equal(["/api/v1/devices/vx-1001/power", "/api/v1/devices/vx-1002"], lastTwo.Select(c => c.GetProperty("path").GetString()));
        Assert.Equal(5, cloud.Handle.GetCalls().Count);

        using (var cleared = await cloud.Http.DeleteAsync("admin/calls"))
            Assert.Equal(System.Net.HttpStatusCode.NoContent, cleared.StatusCode);
        Assert.Equal(0, (await cloud.GetJsonAsync("admin/calls")).GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task The_log_keeps_the_last_1000_calls()
    {
        var (cloud, _) = await Cloud.StartFakeAsync();
        await using var _1 = cloud;

        await Parallel.ForEachAsync(Enumerable.Range(0, 1_050), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            using var response = await cloud.Http.GetAsync(i < 1_000 ? "api/v1/grid/intensity" : $"api/v1/devices/vx-{1001 + i % 6}", ct);
        });

        var log = await cloud.GetJsonAsync("admin/calls");
        Assert.Equal(1_050, log.GetProperty("total").GetInt64());
        var calls = log.GetProperty("calls").EnumerateArray().ToList();
        Assert.Equal(1_000, calls.Count);
        Assert.Equal(1_000, cloud.Handle.GetCalls().Count);
        Assert.Equal(50, calls.Count(c => c.GetProperty("path").GetString()!.StartsWith("/api/v1/devices/", StringComparison.Ordinal)));
    }
}
