using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace CleanEnergy.VendorCloud.Tests;

/// <summary>A vendor cloud on a free loopback port (real Kestrel) with an HttpClient for it; quiet logs, seed 1234, UTC.</summary>
internal sealed class Cloud : IAsyncDisposable
{
    /// <summary>03:00 UTC on a Thursday: night on the grid.</summary>
    public static readonly DateTimeOffset Start = new(2026, 1, 15, 3, 0, 0, TimeSpan.Zero);

    private Cloud(VendorCloudHandle handle)
    {
        Handle = handle;
        Http = NewClient(TimeSpan.FromSeconds(10));
    }

    public VendorCloudHandle Handle { get; }

    public HttpClient Http { get; }

    public static async Task<Cloud> StartAsync(Action<VendorCloudOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new VendorCloudOptions
        {
            Seed = 1234,
            TimeZone = "UTC",
            TimeProvider = time,
            ConfigureLogging = logging => logging.ClearProviders(),
        };
        configure?.Invoke(options);
        return new Cloud(await VendorCloudServer.StartAsync(options, CancellationToken.None));
    }

    public static async Task<(Cloud Cloud, FakeTimeProvider Time)> StartFakeAsync(Action<VendorCloudOptions>? configure = null)
    {
        var time = new FakeTimeProvider(Start);
        return (await StartAsync(configure, time), time);
    }

    public HttpClient NewClient(TimeSpan timeout) => new() { BaseAddress = Handle.BaseAddress, Timeout = timeout };

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await ReadJsonAsync(response);
    }

    public Task<HttpResponseMessage> PostAsync(string path, string body) => Http.PostAsync(path, Json(body));

    public Task<HttpResponseMessage> PutAsync(string path, string body) => Http.PutAsync(path, Json(body));

    public async Task<JsonElement> PutJsonAsync(string path, string body)
    {
        using var response = await PutAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await ReadJsonAsync(response);
    }

    public async Task<JsonElement> SwitchAsync(string vendorId, bool on)
    {
        using var response = await PostAsync($"api/v1/devices/{vendorId}/power", on ? """{"on": true}""" : """{"on": false}""");
        Assert.True(response.IsSuccessStatusCode, $"switch {vendorId}: {(int)response.StatusCode}");
        return await ReadJsonAsync(response);
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>Asserts a problem response with <paramref name="status"/>; returns its body.</summary>
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ReadJsonAsync(response);
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        return problem;
    }

    /// <summary>Waits (real time) until <paramref name="condition"/> holds.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
                Assert.Fail($"Timed out waiting for {what}.");
            await Task.Delay(20, CancellationToken.None);
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Handle.DisposeAsync();
    }
}
