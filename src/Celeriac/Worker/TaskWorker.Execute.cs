using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Celeriac.Events;
using Celeriac.Messaging;
using Celeriac.Operations;
using Celeriac.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Celeriac.Worker;

internal sealed partial class TaskWorker
{
    /// <summary>
    /// Settles one message: refuses what cannot run (too large, malformed, unknown task, expired), runs the task under
    /// its time limits, then stores the result and acks, retries with backoff, or dead-letters.
    /// </summary>
    private async Task ProcessAsync(LeasedMessage message, WorkerOptions settings, CancellationToken abort)
    {
        // UTF-8 takes at most 3 bytes per UTF-16 char: only a body that might be over the limit is counted.
        if (message.Body.Length > _options.MaxMessageBytes / 3 && Encoding.UTF8.GetByteCount(message.Body) is var bytes && bytes > _options.MaxMessageBytes)
        {
            await RefuseAsync(message, null, "too-large", "MessageTooLarge", $"Message is {bytes} bytes, over the limit of {_options.MaxMessageBytes} bytes.").ConfigureAwait(false);
            return;
        }

        TaskMessage? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize(message.Body, EnvelopeJsonContext.Default.TaskMessage);
            if (envelope is null || string.IsNullOrWhiteSpace(envelope.Task) || string.IsNullOrWhiteSpace(envelope.Id))
                throw new JsonException("The envelope has no task name or id.");
        }
        catch (JsonException e)
        {
            await RefuseAsync(message, null, "malformed", "MalformedMessage", $"The message is not a valid task envelope: {e.Message}").ConfigureAwait(false);
            return;
        }

        var definition = envelope.Subject is null ? registry.Find(envelope.Task) : subscriptions.FindDurable(message.Queue)?.Handler;
        if (definition is null)
        {
            await (envelope.Subject is null
                ? RefuseAsync(message, envelope, "unknown-task", "NotRegistered", $"No task named '{envelope.Task}' is registered in this worker.")
                : RefuseAsync(message, envelope, "unknown-subscription", "NotRegistered", $"No durable subscription reading queue '{message.Queue}' is mapped in this worker.")).ConfigureAwait(false);
            return;
        }

        var now = time.GetUtcNow();
        if (envelope.Expires is { } expires && expires <= now)
        {
            LogExpired(envelope.Task, envelope.Id, expires);
            await StoreAsync(envelope, TaskStates.Expired, null, new TaskError("Expired", $"The task expired at {expires:O} before a worker could run it.", null)).ConfigureAwait(false);
            await AbortChainAsync(envelope, "it expired").ConfigureAwait(false);
            await transport.AckAsync(message, CancellationToken.None).ConfigureAwait(false);
            CeleriacDiagnostics.Completed(envelope.Task, TaskStates.Expired);
            Interlocked.Increment(ref _processed);
            journal.Record(Event(message, envelope, TaskEventKinds.Expired, TaskStates.Expired, detail: string.Create(CultureInfo.InvariantCulture, $"expired at {expires:O}")));
            return;
        }

        // Known to remote control from here on: listed in the heartbeat, and a revoke reaches it.
        var entry = new RunningEntry(envelope.Id, envelope.Task, now);
        _running[envelope.Id] = entry;
        try
        {
            if (_revokedHeld.TryRemove(envelope.Id, out _)) entry.Revoke();
            if (entry.Revoked)
            {
                await RevokedAsync(message, envelope, TimeSpan.Zero).ConfigureAwait(false);
                return;
            }
            await RunTaskAsync(message, envelope, definition, settings, entry, abort).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(KeyValuePair.Create(envelope.Id, entry));
        }
    }

    /// <summary>Runs a task that may run and settles it by its outcome.</summary>
    private async Task RunTaskAsync(LeasedMessage message, TaskMessage envelope, TaskDefinition definition, WorkerOptions settings, RunningEntry entry, CancellationToken abort)
    {
        journal.Record(Event(message, envelope, TaskEventKinds.Started, TaskStates.Started));
        if (settings.TrackStarted)
            await StoreAsync(envelope, TaskStates.Started, null, null).ConfigureAwait(false);

        // A child of the span that sent the task (its traceparent), in whatever process that was.
        var parent = envelope.TraceParent is { } traceParent && ActivityContext.TryParse(traceParent, null, isRemote: true, out var sent) ? sent : default;
        using var activity = CeleriacDiagnostics.Source.StartActivity("celeriac.task " + envelope.Task, ActivityKind.Consumer, parent);
        activity?.SetTag("celeriac.task.id", envelope.Id);
        activity?.SetTag("celeriac.task.retries", envelope.Retries);
        var started = time.GetTimestamp();
        var outcome = await InvokeAsync(message, envelope, definition, entry, abort).ConfigureAwait(false);
        var runTime = time.GetElapsedTime(started);
        CeleriacDiagnostics.Duration.Record(runTime.TotalMilliseconds, new KeyValuePair<string, object?>("task", envelope.Task));

        if (outcome.Exception is LockBusyException busy)
        {
            var delay = definition.LockRetryAfter * (0.5 + Random.Shared.NextDouble());
            LogLockBusy(envelope.Task, envelope.Id, busy.Key, delay);
            await transport.ReleaseAsync(message, time.GetUtcNow() + delay, null, CancellationToken.None).ConfigureAwait(false);
        }
        else if (outcome.Exception is null)
        {
            await SucceedAsync(message, envelope, definition, outcome.HasValue, outcome.Value, runTime).ConfigureAwait(false);
        }
        else if (entry.Revoked)
        {
            // Revoked while it ran: whatever it ended with (cancelled, or abandoned at the hard limit), it is REVOKED.
            activity?.SetStatus(ActivityStatusCode.Error, "revoked");
            await RevokedAsync(message, envelope, runTime).ConfigureAwait(false);
        }
        else if (outcome.Exception is OperationCanceledException && abort.IsCancellationRequested)
        {
            LogReleasedOnShutdown(envelope.Task, envelope.Id);
            await ReleaseAsync(message).ConfigureAwait(false);
        }
        else
        {
            activity?.SetStatus(ActivityStatusCode.Error, outcome.Exception.Message);
            await FailAsync(message, envelope, definition, outcome.Exception, runTime).ConfigureAwait(false);
        }
    }

    /// <summary>Records REVOKED (later chain steps become FAILURE) and acks: a revoked task is not run again.</summary>
    private async Task RevokedAsync(LeasedMessage message, TaskMessage envelope, TimeSpan runTime)
    {
        LogRevoked(envelope.Task, envelope.Id);
        await StoreAsync(envelope, TaskStates.Revoked, null, new TaskError("Revoked", runTime > TimeSpan.Zero ? "The task was revoked while it ran." : "The task was revoked before it ran.", null)).ConfigureAwait(false);
        await AbortChainAsync(envelope, "it was revoked").ConfigureAwait(false);
        await transport.AckAsync(message, CancellationToken.None).ConfigureAwait(false);
        CeleriacDiagnostics.Completed(envelope.Task, TaskStates.Revoked);
        Interlocked.Increment(ref _processed);
        journal.Record(Event(message, envelope, TaskEventKinds.Revoked, TaskStates.Revoked, detail: RunDetail(runTime)));
    }

    private static string RunDetail(TimeSpan runTime) => string.Create(CultureInfo.InvariantCulture, $"run {runTime.TotalMilliseconds:0.#} ms");

    private readonly record struct Outcome(bool HasValue, object? Value, Exception? Exception);

    /// <summary>Binds and runs the delegate in its own scope, under the soft and hard time limits.</summary>
    private async Task<Outcome> InvokeAsync(LeasedMessage message, TaskMessage envelope, TaskDefinition definition, RunningEntry entry, CancellationToken abort)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(abort);
        entry.Attach(cancel);
        try
        {
            return await InvokeAsync(message, envelope, definition, cancel, abort).ConfigureAwait(false);
        }
        finally
        {
            entry.Detach();
        }
    }

    private async Task<Outcome> InvokeAsync(LeasedMessage message, TaskMessage envelope, TaskDefinition definition, CancellationTokenSource cancel, CancellationToken abort)
    {
        using var soft = definition.SoftTimeLimit is { } s ? new CancellationTokenSource(s, time) : null;
        using var softLink = soft?.Token.Register(() => cancel.Cancel());
        var context = new TaskContext(envelope.Id, envelope.Task, envelope.Retries, message.DeliveryCount, envelope.Eta,
            envelope.ParentId, envelope.RootId ?? envelope.Id, envelope.Group, message.Queue, cancel.Token)
        {
            Event = envelope.Subject is { } subject
                ? new EventContext(envelope.Id, subject, envelope.Published ?? default, definition.Name, message.DeliveryCount, envelope.Retries)
                : null,
        };

        async Task<(bool, object?)> Invoke()
        {
            await using var scope = scopes.CreateAsyncScope();
            var values = definition.Invoker.Bind(scope.ServiceProvider, context, envelope.Args, envelope.Kwargs);
            if (definition.Lock is null)
                return await definition.Invoker.InvokeAsync(values).ConfigureAwait(false);

            var key = definition.Lock.KeyFor(values);
            var token = await locks.TryAcquireAsync(key, _lease, CancellationToken.None).ConfigureAwait(false)
                ?? throw new LockBusyException(key);
            _locks[key] = token;
            try
            {
                return await definition.Invoker.InvokeAsync(values).ConfigureAwait(false);
            }
            finally
            {
                _locks.TryRemove(key, out _);
                await TryAsync(() => locks.ReleaseAsync(key, token, CancellationToken.None), "lock release").ConfigureAwait(false);
            }
        }

        // Under a hard limit the run goes to the thread pool, so that even a task that blocks its thread is abandoned on time.
        var run = definition.HardTimeLimit is null ? Invoke() : Task.Run(Invoke, CancellationToken.None);

        if (definition.HardTimeLimit is { } hard)
        {
            using var stopTimer = new CancellationTokenSource();
            var timer = Task.Delay(hard, time, stopTimer.Token);
            if (await Task.WhenAny(run, timer).ConfigureAwait(false) == timer)
            {
                await cancel.CancelAsync().ConfigureAwait(false);
                _ = run.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                LogHardLimit(envelope.Task, envelope.Id, hard);
                return new Outcome(false, null, new TimeLimitExceededException($"Task '{envelope.Task}' was abandoned at its hard time limit of {hard}."));
            }
            await stopTimer.CancelAsync().ConfigureAwait(false);
        }

        try
        {
            var (hasValue, value) = await run.ConfigureAwait(false);
            return new Outcome(hasValue, value, null);
        }
        catch (OperationCanceledException) when (soft?.IsCancellationRequested == true && !abort.IsCancellationRequested)
        {
            return new Outcome(false, null, new TimeLimitExceededException($"Task '{envelope.Task}' was cancelled at its soft time limit of {definition.SoftTimeLimit}."));
        }
        catch (Exception e)
        {
            return new Outcome(false, null, e);
        }
    }

    private async Task SucceedAsync(LeasedMessage message, TaskMessage envelope, TaskDefinition definition, bool hasValue, object? value, TimeSpan runTime)
    {
        JsonElement? result = null;
        if (hasValue)
        {
            try
            {
                result = JsonSerializer.SerializeToElement(value, value?.GetType() ?? typeof(object), TaskJson.Options);
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
            {
                await FailAsync(message, envelope, definition, new JsonException($"The return value of task '{envelope.Task}' could not be serialized: {e.Message}", e), runTime).ConfigureAwait(false);
                return;
            }
        }
        // The result and the next chain step are written together; the ack is issued only once both are committed.
        // A store may commit concurrent writes in any order (Redis batches results and acks separately), so an ack
        // issued alongside could land first: a worker killed, or a store write failing, in between would lose the
        // task with no result. Failing here leaves the message leased; its lease runs out and it is delivered again.
        var stored = definition.IgnoreResult ? ValueTask.CompletedTask : StoreAsync(envelope, TaskStates.Success, result?.GetRawText(), null);
        var sent = envelope.Chain is { Count: > 0 } chain
            ? client.SendNextAsync(chain[0], [.. chain.Skip(1)], result, envelope.Id, envelope.RootId ?? envelope.Id, CancellationToken.None)
            : ValueTask.FromResult<string[]>([]);
        await stored.ConfigureAwait(false);
        await sent.ConfigureAwait(false);
        await transport.AckAsync(message, CancellationToken.None).ConfigureAwait(false);
        CeleriacDiagnostics.Completed(envelope.Task, TaskStates.Success);
        Interlocked.Increment(ref _processed);
        journal.Record(Event(message, envelope, TaskEventKinds.Succeeded, TaskStates.Success, detail: RunDetail(runTime)));
    }

    /// <summary>Retries when the policy (or the task) asks for it and retries are left; otherwise FAILURE and dead-letter.</summary>
    private async Task FailAsync(LeasedMessage message, TaskMessage envelope, TaskDefinition definition, Exception exception, TimeSpan runTime)
    {
        var policy = definition.Retry;
        var wantsRetry = exception is RetryException || (exception is not TaskBindingException && policy.Handles(exception));
        var cause = exception is RetryException { InnerException: { } inner } ? inner : exception;
        var error = new TaskError(cause.GetType().Name, cause.Message, cause.StackTrace);

        if (wantsRetry && envelope.Retries < policy.MaxRetries)
        {
            var delay = (exception as RetryException)?.Countdown ?? policy.DelayFor(envelope.Retries, Random.Shared.NextDouble());
            var eta = time.GetUtcNow() + delay;
            var next = envelope.With(envelope.Retries + 1, eta);
            LogRetry(cause, envelope.Task, envelope.Id, envelope.Retries + 1, policy.MaxRetries, delay);
            await StoreAsync(next, TaskStates.Retry, null, error).ConfigureAwait(false);
            await transport.ReleaseAsync(message, eta, JsonSerializer.Serialize(next, EnvelopeJsonContext.Default.TaskMessage), CancellationToken.None).ConfigureAwait(false);
            CeleriacDiagnostics.Completed(envelope.Task, TaskStates.Retry);
            Interlocked.Increment(ref _retried);
            journal.Record(Event(message, envelope, TaskEventKinds.Retried, TaskStates.Retry, $"{error.Type}: {error.Message}",
                string.Create(CultureInfo.InvariantCulture, $"retry {envelope.Retries + 1} of {policy.MaxRetries} at {eta:O}; run {runTime.TotalMilliseconds:0.#} ms")));
            return;
        }

        var reason = exception is TaskBindingException ? "bad-arguments" : wantsRetry ? "max-retries" : "failed";
        LogFailed(cause, envelope.Task, envelope.Id, reason);
        await StoreAsync(envelope, TaskStates.Failure, null, error).ConfigureAwait(false);
        await AbortChainAsync(envelope, $"it failed with {error.Type}: {error.Message}").ConfigureAwait(false);
        await transport.DeadLetterAsync(message, new DeadLetterInfo(reason, error.Type, error.Message, error.StackTrace), CancellationToken.None).ConfigureAwait(false);
        CeleriacDiagnostics.Completed(envelope.Task, TaskStates.Failure);
        Interlocked.Increment(ref _processed);
        Interlocked.Increment(ref _failed);
        journal.Record(Event(message, envelope, TaskEventKinds.Failed, TaskStates.Failure, $"{error.Type}: {error.Message}",
            string.Create(CultureInfo.InvariantCulture, $"{reason}; run {runTime.TotalMilliseconds:0.#} ms")));
    }

    /// <summary>Records FAILURE and dead-letters a message that cannot be run at all.</summary>
    private async Task RefuseAsync(LeasedMessage message, TaskMessage? envelope, string reason, string errorType, string text)
    {
        LogRefused(message.Id, reason, text);
        var error = new TaskError(errorType, text, null);
        // Events keep no results; a message in an event queue that could not be read is taken for one.
        if (envelope?.IgnoreResult != true && !SubscriptionRegistry.IsEventQueue(message.Queue))
            await results.SetAsync(new TaskResult(envelope?.Id ?? message.Id, envelope?.Task ?? "?", TaskStates.Failure, null, error, envelope?.Retries ?? 0, time.GetUtcNow()),
                time.GetUtcNow() + _options.ResultExpiry, CancellationToken.None).ConfigureAwait(false);
        if (envelope is not null) await AbortChainAsync(envelope, text).ConfigureAwait(false);
        await transport.DeadLetterAsync(message, new DeadLetterInfo(reason, errorType, text, null), CancellationToken.None).ConfigureAwait(false);
        CeleriacDiagnostics.Completed(envelope?.Task ?? "?", TaskStates.Failure);
        Interlocked.Increment(ref _processed);
        Interlocked.Increment(ref _failed);
        journal.Record(new TaskEvent(envelope?.Id ?? message.Id, envelope?.Task ?? "?", TaskEventKinds.Failed, TaskStates.Failure, time.GetUtcNow(), message.Queue, process.Id,
            message.DeliveryCount, envelope?.Retries ?? 0, $"{errorType}: {text}", reason));
    }

    private ValueTask AbortChainAsync(TaskMessage envelope, string why) => client.AbortChainAsync(envelope, why, CancellationToken.None);

    private ValueTask StoreAsync(TaskMessage envelope, string state, string? result, TaskError? error)
    {
        if (envelope.IgnoreResult) return ValueTask.CompletedTask;
        var now = time.GetUtcNow();
        return results.SetAsync(new TaskResult(envelope.Id, envelope.Task, state, result, error, envelope.Retries, now), now + _options.ResultExpiry, CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {Task} ({TaskId}) failed; retry {Retry} of {MaxRetries} in {Delay}")]
    private partial void LogRetry(Exception exception, string task, string taskId, int retry, int maxRetries, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {Task} ({TaskId}) failed ({Reason}); moved to the dead-letter store")]
    private partial void LogFailed(Exception exception, string task, string taskId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Message {MessageId} refused ({Reason}): {Text}; moved to the dead-letter store")]
    private partial void LogRefused(string messageId, string reason, string text);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {Task} ({TaskId}) expired at {Expires:O}; not run")]
    private partial void LogExpired(string task, string taskId, DateTimeOffset expires);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {Task} ({TaskId}) hit its hard time limit of {Limit}; abandoned")]
    private partial void LogHardLimit(string task, string taskId, TimeSpan limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Task {Task} ({TaskId}) waits for lock {Key}; back in its queue for {Delay}")]
    private partial void LogLockBusy(string task, string taskId, string key, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {Task} ({TaskId}) cancelled by shutdown; message released to its queue")]
    private partial void LogReleasedOnShutdown(string task, string taskId);
}

/// <summary>A run whose lock key another run holds; its message goes back to the queue for a while.</summary>
internal sealed class LockBusyException(string key) : Exception($"Lock {key} is held by another run.")
{
    public string Key { get; } = key;
}
