using System.Net;
using System.Text.Json;
using Celeriac.Operations;

namespace CleanEnergy.Tests;

/// <summary>The web process's health endpoints over real Kestrel and the SQLite store, and the stall alert's text.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task Live_and_ready_answer_without_a_login_and_ready_runs_the_celeriac_checks()
    {
        await using var app = await EnergyWebApp.StartAsync();
        using var client = app.Client();

        using var live = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var liveBody = JsonSerializer.Deserialize<JsonElement>(await live.Content.ReadAsStringAsync());
        Assert.Equal("Healthy", liveBody.GetProperty("status").GetString());
        Assert.Empty(liveBody.GetProperty("checks").EnumerateObject());

        // The beat check is degraded until this process's scheduler has taken the leader key (a moment after start).
        JsonElement checks = default;
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(100))
        {
            using var ready = await client.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("no-store", ready.Headers.CacheControl?.ToString());
            checks = JsonSerializer.Deserialize<JsonElement>(await ready.Content.ReadAsStringAsync()).GetProperty("checks");
            if (checks.TryGetProperty("celeriac.beat", out var beat) && beat.GetProperty("status").GetString() == "Healthy") break;
            Assert.True(DateTime.UtcNow < deadline, "The beat check did not turn healthy: " + checks);
        }
        Assert.Equal(["celeriac.store", "celeriac.worker", "celeriac.queues", "celeriac.beat"], checks.EnumerateObject().Select(p => p.Name));
        Assert.All(checks.EnumerateObject(), p => Assert.Equal("Healthy", p.Value.GetProperty("status").GetString()));
        Assert.StartsWith("The store answers", checks.GetProperty("celeriac.store").GetProperty("description").GetString());
    }

    [Fact]
    public void A_stall_alert_reads_as_a_sentence_on_the_dashboard()
    {
        var at = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal("Queue default is stalled: 3 ready, the oldest waiting 1m 12s (no worker?)",
            EnergyHosting.StallText(new QueueStallAlert("default", 3, at.AddSeconds(-72), TimeSpan.FromMinutes(1), at)));
        Assert.Equal("Queue default moves again after 2m 5s stalled",
            EnergyHosting.StallText(new QueueStallAlert("default", 0, null, TimeSpan.FromMinutes(1), at, TimeSpan.FromSeconds(125))));
    }
}
