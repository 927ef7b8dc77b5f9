using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Celeriac.Tests.Scheduling;

/// <summary>The <c>celeriac.beat</c> health check: a beat leader is present and fires when there are active schedules.</summary>
public sealed class BeatHealthTests
{
    private static async Task<HealthCheckResult> CheckAsync(BeatHarness h)
    {
        var check = ActivatorUtilities.CreateInstance<BeatHealthCheck>(h.Provider);
        return await check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("celeriac.beat", check, HealthStatus.Degraded, null) });
    }

    private static ValueTask HeartbeatAsync(BeatHarness h, string id, bool leader) =>
        h.Provider.GetRequiredService<IOperationsStore>().PutProcessAsync(id, $$"""{"id":"{{id}}","roles":["beat"],"beatLeader":{{(leader ? "true" : "false")}}}""", TimeSpan.FromMinutes(10));

    [Fact]
    public async Task No_schedule_needs_no_leader()
    {
        await using var h = new BeatHarness();
        var result = await CheckAsync(h);
        Assert.Equal(HealthStatus.Healthy, result.Status);
    }

    [Fact]
    public async Task Active_schedules_need_a_live_leader_that_fires_them()
    {
        await using var h = new BeatHarness(c => c.MapSchedule("health.every", "probe.tick", TimeSpan.FromSeconds(1)), o => o.LeaderLease = TimeSpan.FromSeconds(2));

        // No process says it leads.
        await HeartbeatAsync(h, "follower", leader: false);
        await HeartbeatAsync(h, "broken", leader: false);
        await h.Provider.GetRequiredService<IOperationsStore>().PutProcessAsync("damaged", "{not json", TimeSpan.FromMinutes(10));
        var none = await CheckAsync(h);
        Assert.Equal(HealthStatus.Degraded, none.Status);
        Assert.Contains("no live process is the beat leader", none.Description, StringComparison.Ordinal);

        // A leader that fires.
        var beat = h.StartScheduler();
        await Eventually.TrueAsync(() => beat.IsLeader);
        await h.StepUntilAsync("health.every", 1, TimeSpan.FromSeconds(1));
        await HeartbeatAsync(h, "leader", leader: true);
        var firing = await CheckAsync(h);
        Assert.Equal(HealthStatus.Healthy, firing.Status);
        Assert.Contains("leader fires 1 schedule", firing.Description, StringComparison.Ordinal);

        // Its heartbeat still says it leads, but it fires nothing: the next tick is overdue past twice the lease.
        await beat.StopAsync();
        h.Time.Advance(TimeSpan.FromSeconds(10));
        var stuck = await CheckAsync(h);
        Assert.Equal(HealthStatus.Degraded, stuck.Status);
        Assert.Contains("is not firing", stuck.Description, StringComparison.Ordinal);
        Assert.Contains("health.every", stuck.Description, StringComparison.Ordinal);

        // A paused schedule needs nobody.
        Assert.True(await h.Manager.PauseAsync("health.every"));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(h)).Status);
    }
}
