using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CleanEnergy.Data;
using Microsoft.EntityFrameworkCore;

namespace CleanEnergy.Vendor;

/// <summary>
/// The vendor's cloud API, as a typed <see cref="HttpClient"/> (base address <c>Vendor:BaseUrl</c>, timeout
/// <c>Vendor:TimeoutSeconds</c>, default 3 s). Every call is recorded as an <see cref="Interaction"/> (in its own
/// database context, so it never mixes with the caller's unit of work). Failures surface as:
/// <list type="bullet">
/// <item><see cref="HttpRequestException"/> with the status code for a 5xx/429 answer, without one when no connection was made: transient;</item>
/// <item><see cref="TimeoutException"/> when no answer came within the timeout: transient (the call may have taken effect);</item>
/// <item><see cref="VendorRejectedException"/> for any other 4xx: permanent.</item>
/// </list>
/// Cancellation by the caller's token (shutdown, a task's time limit) is passed through as is.
/// </summary>
internal sealed partial class VendorClient(HttpClient http, IDbContextFactory<EnergyDb> dbs, TimeProvider time, ILogger<VendorClient> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<IReadOnlyList<VendorDeviceSummary>> ListDevicesAsync(CancellationToken cancellationToken) =>
        await SendAsync<List<VendorDeviceSummary>>("devices.list", null, () => new HttpRequestMessage(HttpMethod.Get, "api/v1/devices"), cancellationToken);

    public Task<VendorDeviceStatus> GetDeviceAsync(int deviceId, string vendorId, CancellationToken cancellationToken) =>
        SendAsync<VendorDeviceStatus>("devices.get", deviceId,
            () => new HttpRequestMessage(HttpMethod.Get, $"api/v1/devices/{Uri.EscapeDataString(vendorId)}"), cancellationToken);

    /// <summary>Switches the device on or off (idempotent at the vendor) and returns its state after the switch.</summary>
    public Task<VendorDeviceStatus> SetPowerAsync(int deviceId, string vendorId, bool on, CancellationToken cancellationToken) =>
        SendAsync<VendorDeviceStatus>("devices.power", deviceId,
            () => new HttpRequestMessage(HttpMethod.Post, $"api/v1/devices/{Uri.EscapeDataString(vendorId)}/power") { Content = JsonContent.Create(new { on }, options: Json) },
            cancellationToken);

    public Task<VendorGridReading> GetGridIntensityAsync(CancellationToken cancellationToken) =>
        SendAsync<VendorGridReading>("grid.intensity", null, () => new HttpRequestMessage(HttpMethod.Get, "api/v1/grid/intensity"), cancellationToken);

    private async Task<T> SendAsync<T>(string operation, int? deviceId, Func<HttpRequestMessage> request, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var at = time.GetUtcNow().UtcDateTime;
        int? status = null;
        try
        {
            using var message = request();
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken);
            status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                var body = await ReadErrorAsync(response, cancellationToken);
                var text = $"Vendor {operation} answered {status} {response.ReasonPhrase}{(body.Length > 0 ? ": " + body : "")}";
                if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                    throw new HttpRequestException(text, null, response.StatusCode);
                throw new VendorRejectedException(text, status.Value);
            }
            var value = await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
                ?? throw new HttpRequestException($"Vendor {operation} answered an empty body.", null, response.StatusCode);
            await RecordAsync(operation, deviceId, status, null, "ok", started, at);
            return value;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient.Timeout: the answer did not come in time (the vendor may still have done the work).
            var seconds = http.Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            await RecordAsync(operation, deviceId, null, $"no answer within {seconds} s", "timeout", started, at);
            throw new TimeoutException($"Vendor {operation} did not answer within {seconds} s.");
        }
        catch (HttpRequestException e)
        {
            await RecordAsync(operation, deviceId, status, e.Message, status is null ? "network-error" : "http-error", started, at);
            throw;
        }
        catch (VendorRejectedException e)
        {
            await RecordAsync(operation, deviceId, status, e.Message, "http-error", started, at);
            throw;
        }
        catch (JsonException e)
        {
            await RecordAsync(operation, deviceId, status, "bad JSON: " + e.Message, "http-error", started, at);
            throw new HttpRequestException($"Vendor {operation} answered JSON that could not be read: {e.Message}", e, HttpStatusCode.BadGateway);
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return body.Length > 200 ? body[..200] : body.Trim();
        }
        catch (HttpRequestException)
        {
            return "";
        }
    }

    /// <summary>Stores the interaction; a failure to store it is logged, never thrown (the call's outcome matters more).</summary>
    private async Task RecordAsync(string operation, int? deviceId, int? status, string? error, string outcome, long started, DateTime at)
    {
        var duration = time.GetElapsedTime(started).TotalMilliseconds;
        try
        {
            await using var db = await dbs.CreateDbContextAsync(CancellationToken.None);
            db.Interactions.Add(new Interaction
            {
                DeviceId = deviceId,
                Operation = operation,
                StatusCode = status,
                Error = error is { Length: > 500 } ? error[..500] : error,
                Outcome = outcome,
                DurationMs = Math.Round(duration, 1),
                At = at,
            });
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is DbUpdateException or InvalidOperationException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            LogRecordFailed(e, operation);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the vendor interaction {Operation}")]
    private partial void LogRecordFailed(Exception exception, string operation);
}
