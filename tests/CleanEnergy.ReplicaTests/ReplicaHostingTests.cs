using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CleanEnergy.ReplicaTests;

/// <summary>The replica shares the master's store without touching the master's work.</summary>
public sealed class ReplicaHostingTests
{
    [Fact]
    public async Task The_replica_runs_no_beat_and_reads_only_its_own_queues()
    {
        await using var replica = await ReplicaTestApp.StartAsync();
        // No scheduler: it would write this app's (no) code schedules to the shared store and remove the master's.
        Assert.False(replica.App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BeatOptions>>().Value.Enabled);
        // Not the master's "default" queue, whose tasks this app does not know (it would dead-letter them).
        Assert.Equal(["replica"], replica.App.Services.GetRequiredService<IOptions<WorkerOptions>>().Value.Queues);
    }
}
