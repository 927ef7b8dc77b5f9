using System.Diagnostics;
using System.Net;

namespace CleanEnergy.VendorCloud.Tests.Trouble;

/// <summary>The trouble controls themselves: read, merged and validated at run time, and never troubled.</summary>
public sealed class TroubleAdminTests
{
    [Fact]
    public async Task Admin_endpoints_are_never_troubled_nor_logged()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings
        {
            FailureRate = 1.0,
            TimeoutRate = 1.0,
            LatencyMs = new LatencyRange { Min = 5_000, Max = 5_000 },
            OfflineMode = OfflineMode.Hang,
            OfflineDevices = ["vx-1001"],
        });
        using var impatient = cloud.NewClient(TimeSpan.FromSeconds(4));

        var stopwatch = Stopwatch.StartNew();
        foreach (var path in new[] { "admin/trouble", "admin/grid", "admin/calls", "admin/devices", "/" })
            using (var response = await impatient.GetAsync(path))
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var put = await impatient.PutAsync("admin/grid", new StringContent("""{"mode": "clean"}""")))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using (var offline = await impatient.PutAsync("admin/devices/vx-1001/offline", new StringContent("""{"offline": false}""")))
            Assert.Equal(HttpStatusCode.OK, offline.StatusCode);
        using (var trouble = await impatient.PutAsync("admin/trouble", new StringContent("""{"latencyMs": {"min": 0, "max": 0}}""")))
            Assert.Equal(HttpStatusCode.OK, trouble.StatusCode);
        Assert.True(stopwatch.ElapsedMilliseconds < 4_000, $"admin calls took {stopwatch.ElapsedMilliseconds} ms");

        Assert.Empty(cloud.Handle.GetCalls());
        using (var api = await impatient.GetAsync("api/v1/grid/intensity"))
            Assert.True((int)api.StatusCode >= 500);
        Assert.Single(cloud.Handle.GetCalls());
    }

    [Fact]
    public async Task Trouble_is_read_and_merged_at_run_time_and_bad_settings_are_refused()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { TimeoutRate = 0.1, TimeoutDelayMs = 5_000 });

        var current = await cloud.GetJsonAsync("admin/trouble");
        Assert.Equal(0.1, current.GetProperty("timeoutRate").GetDouble());
        Assert.Equal(5_000, current.GetProperty("timeoutDelayMs").GetInt32());
        Assert.Equal("error", current.GetProperty("offlineMode").GetString());

        var merged = await cloud.PutJsonAsync("admin/trouble", """{"failureRate": 0.5, "latencyMs": {"min": 1, "max": 3}, "offlineMode": "hang"}""");
        Assert.Equal(0.5, merged.GetProperty("failureRate").GetDouble());
        Assert.Equal(0.1, merged.GetProperty("timeoutRate").GetDouble());       // kept
        Assert.Equal(3, merged.GetProperty("latencyMs").GetProperty("max").GetInt32());
        var expected = new TroubleSettings
        {
            FailureRate = 0.5,
            TimeoutRate = 0.1,
            TimeoutDelayMs = 5_000,
            LatencyMs = new LatencyRange { Min = 1, Max = 3 },
            OfflineMode = OfflineMode.Hang,
        };
        Assert.Equal(expected with { OfflineDevices = [] }, cloud.Handle.Trouble.Current with { OfflineDevices = [] });

        foreach (var bad in new[]
        {
            """{"failureRate": 2}""", """{"timeoutRate": -0.1}""", """{"latencyMs": {"min": 10, "max": 5}}""",
            """{"timeoutDelayMs": -1}""", """{"offlineDevices": ["vx-9999"]}""", """{"offlineMode": "sometimes"}""",
            """{"failurerate2": 1}""", "failureRate=1", "",
        })
        {
            await Cloud.AssertProblemAsync(await cloud.PutAsync("admin/trouble", bad), 400);
        }
        Assert.Equal(0.5, cloud.Handle.Trouble.Current.FailureRate);

        Assert.Throws<ArgumentException>(() => cloud.Handle.Trouble.Set(new TroubleSettings { FailureRate = 1.5 }));
        Assert.Throws<ArgumentException>(() => cloud.Handle.Trouble.SetOffline("vx-9999", true));
        Assert.Equal(0.5, cloud.Handle.Trouble.Current.FailureRate);
    }
}
