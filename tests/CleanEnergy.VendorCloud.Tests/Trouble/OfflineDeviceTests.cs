using System.Diagnostics;
using System.Net;

namespace CleanEnergy.VendorCloud.Tests.Trouble;

/// <summary>Offline devices: 504 at once, or a hang then 504.</summary>
public sealed class OfflineDeviceTests
{
    [Fact]
    public async Task An_offline_device_answers_504_while_the_others_work()
    {
        await using var cloud = await Cloud.StartAsync();

        var changed = await cloud.PutJsonAsync("admin/devices/vx-1003/offline", """{"offline": true}""");
        Assert.True(changed.GetProperty("offline").GetBoolean());
        Assert.True(cloud.Handle.Trouble.IsOffline("vx-1003"));

        var problem = await Cloud.AssertProblemAsync(await cloud.Http.GetAsync("api/v1/devices/vx-1003"), 504);
        Assert.Contains("vx-1003", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Cloud.AssertProblemAsync(await cloud.PostAsync("api/v1/devices/vx-1003/power", """{"on": true}"""), 504);
        await cloud.GetJsonAsync("api/v1/devices/vx-1001");
        var list = await cloud.GetJsonAsync("api/v1/devices");
        Assert.False(list.EnumerateArray().Single(d => d.GetProperty("vendorId").GetString() == "vx-1003").GetProperty("online").GetBoolean());
        Assert.Equal(["vx-1003"], (await cloud.GetJsonAsync("admin/trouble")).GetProperty("offlineDevices").EnumerateArray().Select(e => e.GetString()));

        await cloud.PutJsonAsync("admin/devices/vx-1003/offline", """{"offline": false}""");
        var back = await cloud.GetJsonAsync("api/v1/devices/vx-1003");
        Assert.False(back.GetProperty("on").GetBoolean());     // the refused switch did nothing
        Assert.Equal(2, cloud.Handle.GetCalls().Count(c => c.Trouble == CallTrouble.Offline));

        await Cloud.AssertProblemAsync(await cloud.PutAsync("admin/devices/vx-9999/offline", """{"offline": true}"""), 404);
        await Cloud.AssertProblemAsync(await cloud.PutAsync("admin/devices/vx-1003/offline", """{"offline": "yes"}"""), 400);
        await Cloud.AssertProblemAsync(await cloud.PutAsync("admin/devices/vx-1003/offline", """{}"""), 400);
    }

    [Fact]
    public async Task An_offline_device_in_hang_mode_makes_clients_time_out()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings
        {
            OfflineMode = OfflineMode.Hang,
            TimeoutDelayMs = 10_000,
            OfflineDevices = ["vx-1002"],
        });
        using var impatient = cloud.NewClient(TimeSpan.FromSeconds(2));

        await Assert.ThrowsAsync<TaskCanceledException>(() => impatient.GetAsync("api/v1/devices/vx-1002"));
        using (var fine = await cloud.Http.GetAsync("api/v1/devices/vx-1001"))
            Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
        await Cloud.WaitUntilAsync(() => cloud.Handle.GetCalls().Count == 2, TimeSpan.FromSeconds(5), "both calls logged");
        var hung = cloud.Handle.GetCalls().Single(c => c.Path.EndsWith("vx-1002", StringComparison.Ordinal));
        Assert.Equal((499, CallTrouble.Offline, true), (hung.Status, hung.Trouble, hung.ClientAborted));

        // A patient client gets the 504 once the hang ends.
        cloud.Handle.Trouble.Update(t => t with { TimeoutDelayMs = 200 });
        var stopwatch = Stopwatch.StartNew();
        await Cloud.AssertProblemAsync(await cloud.Http.GetAsync("api/v1/devices/vx-1002"), 504);
        Assert.True(stopwatch.ElapsedMilliseconds >= 180, $"answered after {stopwatch.ElapsedMilliseconds} ms");
    }
}
