using System.Globalization;
using Microsoft.AspNetCore.Http.Features;

namespace CleanEnergy.VendorCloud.Trouble;

/// <summary>
/// Makes the trouble of <see cref="TroubleSettings"/> on every <c>/api/…</c> call and records the call in the
/// <see cref="CallLog"/> (other paths, such as <c>/admin/…</c>, pass straight through). It runs after routing, so it
/// knows the <c>{vendorId}</c> a call names. All waits use the configured clock and end early when the client goes
/// away or the app stops; a held-back answer is buffered, so the handler's work is done before the wait.
/// </summary>
internal sealed partial class TroubleMiddleware(
    RequestDelegate next,
    TroubleControl trouble,
    CallLog calls,
    IHostApplicationLifetime lifetime,
    ILogger<TroubleMiddleware> logger,
    TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        var started = time.GetTimestamp();
        var at = time.GetUtcNow();
        var settings = trouble.Current;
        var roll = trouble.Roll(settings);
        var vendorId = context.GetRouteValue("vendorId") as string;
        var kind = vendorId is not null && settings.OfflineDevices.Contains(vendorId, StringComparer.Ordinal) ? CallTrouble.Offline
            : roll.FailureStatus is not null ? CallTrouble.Failure
            : roll.Timeout ? CallTrouble.Timeout
            : CallTrouble.None;
        var aborted = false;
        var crashed = false;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            await DelayAsync(roll.Latency, stop.Token);
            switch (kind)
            {
                case CallTrouble.Offline:
                    if (settings.OfflineMode == OfflineMode.Hang)
                        await DelayAsync(TimeSpan.FromMilliseconds(settings.TimeoutDelayMs), stop.Token);
                    await Results.Problem(statusCode: StatusCodes.Status504GatewayTimeout, title: "Device offline",
                        detail: $"Device '{vendorId}' is not reachable from the vendor cloud.").ExecuteAsync(context);
                    break;
                case CallTrouble.Failure:
                    var status = roll.FailureStatus!.Value;
                    if (status == StatusCodes.Status503ServiceUnavailable)
                        context.Response.Headers.RetryAfter = "1";
                    await Results.Problem(statusCode: status, title: "Simulated failure",
                        detail: $"The vendor cloud failed this call on purpose (failureRate {settings.FailureRate.ToString(CultureInfo.InvariantCulture)}).").ExecuteAsync(context);
                    break;
                case CallTrouble.Timeout:
                    await HoldBackAsync(context, TimeSpan.FromMilliseconds(settings.TimeoutDelayMs), stop.Token);
                    break;
                default:
                    await next(context);
                    break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            aborted = true;
        }
        catch (Exception)
        {
            crashed = true;   // the exception handler outside answers 500
            throw;
        }
        finally
        {
            var duration = time.GetElapsedTime(started).TotalMilliseconds;
            var status = aborted ? 499 : crashed ? StatusCodes.Status500InternalServerError : context.Response.StatusCode;
            calls.Add(new CallRecord(at, context.Request.Method, context.Request.Path.Value ?? "", status, Math.Round(duration, 1), kind, aborted));
            LogCall(logger, context.Request.Method, context.Request.Path.Value ?? "", status, duration, kind);
        }
    }

    /// <summary>Runs the handler into a buffer (its work is done), waits, then sends the buffered answer.</summary>
    private async Task HoldBackAsync(HttpContext context, TimeSpan delay, CancellationToken cancellationToken)
    {
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        using var buffer = new MemoryStream();
        var buffered = new StreamResponseBodyFeature(buffer);
        context.Features.Set<IHttpResponseBodyFeature>(buffered);
        try
        {
            await next(context);
            await buffered.CompleteAsync();
        }
        finally
        {
            context.Features.Set(original);
        }
        await DelayAsync(delay, cancellationToken);
        buffer.Position = 0;
        await buffer.CopyToAsync(context.Response.Body, cancellationToken);
    }

    private Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        delay > TimeSpan.Zero ? Task.Delay(delay, time, cancellationToken) : Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} -> {Status} in {DurationMs:0.0} ms (trouble: {Trouble})")]
    private static partial void LogCall(ILogger logger, string method, string path, int status, double durationMs, CallTrouble trouble);
}
