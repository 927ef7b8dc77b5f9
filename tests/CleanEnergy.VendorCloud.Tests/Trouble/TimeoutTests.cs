using System.Diagnostics;
using System.Net;

namespace CleanEnergy.VendorCloud.Tests.Trouble;

/// <summary>Held answers and latency, on the real clock: waits are real, cut short when the client gives up.</summary>
public sealed class TimeoutTests
{
    private static readonly string[] ApiPaths = ["api/v1/devices", "api/v1/devices/vx-1001", "api/v1/devices/vx-1003", "api/v1/grid/intensity"];

    [Fact]
    public async Task A_client_with_a_short_timeout_times_out_at_the_configured_rate()
    {
        // The client's timeout (2 s) is far below the hold (10 s) and far above a normal answer, even on a busy machine.
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { TimeoutRate = 0.25, TimeoutDelayMs = 10_000 });
        using var impatient = cloud.NewClient(TimeSpan.FromSeconds(2));

        var timeouts = 0;
        var ok = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 160), new ParallelOptions { MaxDegreeOfParallelism = 40 }, async (i, _) =>
        {
            try
            {
                using var response = await impatient.GetAsync(ApiPaths[i % ApiPaths.Length], CancellationToken.None);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Interlocked.Increment(ref ok);
            }
            catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
            {
                Interlocked.Increment(ref timeouts);
            }
        });

        Assert.Equal(160, ok + timeouts);
        Assert.InRange(timeouts, 18, 62);       // expected 40, σ ≈ 5.5
        // The cloud saw every held call end when its client went away (499), well before the 10 s hold.
        await Cloud.WaitUntilAsync(() => cloud.Handle.GetCalls().Count == 160, TimeSpan.FromSeconds(5), "160 logged calls");
        var held = cloud.Handle.GetCalls().Where(c => c.Trouble == CallTrouble.Timeout).ToList();
        Assert.All(held, c => Assert.True(c.ClientAborted && c.Status == 499 && c.DurationMs < 5_000, c.ToString()));
        Assert.InRange(timeouts, held.Count, held.Count + 10);  // a normal call might be slow on a very busy machine
    }

    [Fact]
    public async Task A_timed_out_switch_still_takes_effect()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { TimeoutRate = 1.0, TimeoutDelayMs = 30_000 });

        // The client gives up once the switch has reached the device (seen through /admin/devices, which trouble never
        // touches) but while its answer is still held back.
        using var giveUp = new CancellationTokenSource();
        var call = cloud.Http.PostAsync("api/v1/devices/vx-1004/power", new StringContent("""{"on": true}"""), giveUp.Token);
        await WaitUntilOnAsync(cloud, "vx-1004");
        Assert.False(call.IsCompleted);
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        await Cloud.WaitUntilAsync(() => cloud.Handle.GetCalls().Count == 1, TimeSpan.FromSeconds(10), "the call logged");
        var logged = cloud.Handle.GetCalls()[0];
        Assert.Equal((499, CallTrouble.Timeout, true), (logged.Status, logged.Trouble, logged.ClientAborted));
        cloud.Handle.Trouble.Update(t => t with { TimeoutRate = 0 });
        Assert.True((await cloud.GetJsonAsync("api/v1/devices/vx-1004")).GetProperty("on").GetBoolean());
    }

    private static async Task WaitUntilOnAsync(Cloud cloud, string vendorId)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var devices = await cloud.GetJsonAsync("admin/devices");
            if (devices.EnumerateArray().Single(d => d.GetProperty("vendorId").GetString() == vendorId).GetProperty("on").GetBoolean())
                return;
            Assert.False(deadline.IsCancellationRequested, $"{vendorId} was not switched on");
            await Task.Delay(20, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_held_answer_arrives_after_the_delay_when_the_client_waits()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { TimeoutRate = 1.0, TimeoutDelayMs = 300 });

        var stopwatch = Stopwatch.StartNew();
        var status = await cloud.SwitchAsync("vx-1004", true);

        Assert.True(stopwatch.ElapsedMilliseconds >= 280, $"answered after {stopwatch.ElapsedMilliseconds} ms");
        Assert.True(status.GetProperty("on").GetBoolean());
        Assert.Equal(CallTrouble.Timeout, Assert.Single(cloud.Handle.GetCalls()).Trouble);
    }

    [Fact]
    public async Task Latency_is_added_to_every_api_call()
    {
        await using var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { LatencyMs = new LatencyRange { Min = 150, Max = 150 } });

        for (var i = 0; i < 3; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            await cloud.GetJsonAsync("api/v1/devices/vx-1001");
            Assert.True(stopwatch.ElapsedMilliseconds >= 140, $"answered after {stopwatch.ElapsedMilliseconds} ms");
        }
        Assert.All(cloud.Handle.GetCalls(), c => Assert.True(c.DurationMs >= 140 && c.Trouble == CallTrouble.None, c.ToString()));
    }
}
