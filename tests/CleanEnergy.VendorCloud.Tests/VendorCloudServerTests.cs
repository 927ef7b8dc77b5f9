using System.Net;
using System.Net.Sockets;

namespace CleanEnergy.VendorCloud.Tests;

public sealed class VendorCloudServerTests
{
    [Fact]
    public async Task Each_server_gets_its_own_loopback_port_and_frees_it_on_dispose()
    {
        var a = await Cloud.StartAsync();
        await using var b = await Cloud.StartAsync();

        Assert.Equal("127.0.0.1", a.Handle.BaseAddress.Host);
        Assert.NotEqual(a.Handle.BaseAddress.Port, b.Handle.BaseAddress.Port);
        Assert.EndsWith("/", a.Handle.BaseAddress.AbsoluteUri, StringComparison.Ordinal);
        Assert.Contains("/api/v1/devices", await a.Http.GetStringAsync("/"), StringComparison.Ordinal);

        var address = a.Handle.BaseAddress;
        await a.DisposeAsync();
        await a.Handle.DisposeAsync();     // twice is harmless

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("api/v1/devices"));
        Assert.Equal(SocketError.ConnectionRefused, (refused.InnerException as SocketException)?.SocketErrorCode);
        Assert.Equal(HttpStatusCode.OK, (await b.Http.GetAsync("api/v1/devices")).StatusCode);
    }

    [Fact]
    public async Task Dispose_is_prompt_while_calls_are_held()
    {
        var cloud = await Cloud.StartAsync(o => o.Trouble = new TroubleSettings { TimeoutRate = 1, TimeoutDelayMs = 60_000 });
        var held = cloud.Http.GetAsync("api/v1/devices");
        await Task.Delay(200);     // let the call reach the server (nothing to observe until it ends)

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await cloud.DisposeAsync();
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(4), $"dispose took {stopwatch.Elapsed}");
        await Assert.ThrowsAnyAsync<Exception>(() => held);
    }

    [Theory]
    [InlineData(0, 0.0, null, null)]
    [InlineData(6, 1.5, null, null)]
    [InlineData(6, 0.0, "Mars/Olympus_Mons", null)]
    [InlineData(6, 0.0, null, "vx-2000")]
    public async Task Invalid_options_are_refused_at_start(int devices, double failureRate, string? zone, string? offline)
    {
        var options = new VendorCloudOptions
        {
            DeviceCount = devices,
            TimeZone = zone,
            Trouble = new TroubleSettings { FailureRate = failureRate, OfflineDevices = offline is null ? [] : [offline] },
        };
        await Assert.ThrowsAsync<ArgumentException>(() => VendorCloudServer.StartAsync(options, CancellationToken.None));
    }
}
