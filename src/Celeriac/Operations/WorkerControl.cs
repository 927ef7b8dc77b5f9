using System.Text.Json;
using System.Threading.Channels;
using Celeriac.Messaging;
using Celeriac.Transport;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.Operations;

/// <summary>The wire format of remote control, on the channel layer's groups <c>celeriac.control</c> and <c>celeriac.replies</c>.</summary>
internal static class ControlProtocol
{
    public const string Commands = "celeriac.control";
    public const string Replies = "celeriac.replies";
    public const string Ping = "control.ping";
    public const string Stop = "control.stop";
    public const string Concurrency = "control.concurrency";
    public const string Revoke = "control.revoke";
    public const string Reply = "control.reply";

    /// <summary>Target of a command for every process.</summary>
    public const string All = "*";
}

/// <summary>A command: <paramref name="Target"/> is a process id or <c>*</c>.</summary>
internal sealed record ControlCommand(string Type, string Id, string Target, string? TaskId = null, int? Concurrency = null);

/// <summary>An answer to command <paramref name="Id"/> from process <paramref name="Process"/>.</summary>
internal sealed record ControlAnswer(string Type, string Id, string Process, bool Ok, string Message);

/// <summary>
/// Sends control commands and collects the answers: it listens on <c>celeriac.replies</c> for the call's id, sends
/// the command to <c>celeriac.control</c>, and returns when the one process asked has answered, when every live
/// process has (a command to all), or at the timeout.
/// </summary>
internal sealed class WorkerControl(IChannelLayer channels, IOperationsStore store, ITaskClient client, TimeProvider time) : IWorkerControl
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);

    public async ValueTask<IReadOnlyList<ProcessInfo>> GetProcessesAsync(CancellationToken cancellationToken = default)
    {
        var records = await store.GetProcessesAsync(cancellationToken).ConfigureAwait(false);
        var processes = new List<ProcessInfo>(records.Count);
        foreach (var record in records)
        {
            try
            {
                if (JsonSerializer.Deserialize(record, OperationsJsonContext.Default.ProcessInfo) is { Id: not null, Host: not null } info) processes.Add(info);
            }
            catch (JsonException)
            {
                // A damaged heartbeat costs only itself; it expires.
            }
        }
        return [.. processes.OrderBy(p => p.Host, StringComparer.Ordinal).ThenBy(p => p.StartedAt).ThenBy(p => p.Id, StringComparer.Ordinal)];
    }

    public async ValueTask<IReadOnlyList<ControlReply>> PingAsync(string? processId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (processId is not null) ArgumentException.ThrowIfNullOrWhiteSpace(processId);
        // All: done when every live process answered (a heartbeat may be missing: then until the timeout).
        var expected = processId is not null ? 1 : (await GetProcessesAsync(cancellationToken).ConfigureAwait(false)).Count is > 0 and var live ? live : int.MaxValue;
        return await SendAsync(new ControlCommand(ControlProtocol.Ping, TaskIds.New(), processId ?? ControlProtocol.All), timeout, expected, untilOk: false, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<ControlReply?> StopAsync(string processId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(processId);
        var replies = await SendAsync(new ControlCommand(ControlProtocol.Stop, TaskIds.New(), processId), timeout, 1, untilOk: false, cancellationToken).ConfigureAwait(false);
        return replies.Count > 0 ? replies[0] : null;
    }

    public async ValueTask<ControlReply?> SetConcurrencyAsync(string processId, int concurrency, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(processId);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var replies = await SendAsync(new ControlCommand(ControlProtocol.Concurrency, TaskIds.New(), processId, Concurrency: concurrency), timeout, 1, untilOk: false, cancellationToken).ConfigureAwait(false);
        return replies.Count > 0 ? replies[0] : null;
    }

    public async ValueTask<IReadOnlyList<ControlReply>> RevokeAsync(string taskId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(taskId);
        // Still waiting in its queue: removed there and REVOKED; no worker holds it then.
        if (await client.RevokeAsync(taskId, cancellationToken).ConfigureAwait(false)) return [];
        // Only a process that holds it answers; a task runs in one place at a time, so the first that did is enough.
        return await SendAsync(new ControlCommand(ControlProtocol.Revoke, TaskIds.New(), ControlProtocol.All, TaskId: taskId), timeout, int.MaxValue, untilOk: true, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<IReadOnlyList<ControlReply>> SendAsync(ControlCommand command, TimeSpan? timeout, int expected, bool untilOk, CancellationToken cancellationToken)
    {
        var wait = timeout ?? DefaultTimeout;
        if (wait <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be positive.");
        var answers = Channel.CreateUnbounded<ControlAnswer>();
        await using var subscription = await channels.SubscribeAsync(ControlProtocol.Replies, m =>
        {
            if (m.Type == ControlProtocol.Reply && TryRead(m.Message, OperationsJsonContext.Default.ControlAnswer) is { } answer && answer.Id == command.Id)
                answers.Writer.TryWrite(answer);
            return ValueTask.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);

        var started = time.GetTimestamp();
        await channels.GroupSendAsync(ControlProtocol.Commands, JsonSerializer.SerializeToElement(command, OperationsJsonContext.Default.ControlCommand), cancellationToken).ConfigureAwait(false);

        var replies = new List<ControlReply>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var timer = new CancellationTokenSource(wait, time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            while (replies.Count < expected && await answers.Reader.WaitToReadAsync(deadline.Token).ConfigureAwait(false))
            {
                while (answers.Reader.TryRead(out var answer))
                {
                    if (!seen.Add(answer.Process)) continue;
                    replies.Add(new ControlReply(answer.Process, answer.Ok, answer.Message, time.GetElapsedTime(started)));
                    if (untilOk && answer.Ok) return replies;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The timeout: what came in is the answer.
        }
        return replies;
    }

    internal static T? TryRead<T>(JsonElement element, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return element.Deserialize(type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Answers control commands addressed to this process (or to all) that arrive on <c>celeriac.control</c>.
/// <para>
/// Lifecycle: subscribes on start, unsubscribes on stop. Each command is handled in turn: ping answers; stop answers,
/// then asks the host to stop (<see cref="IHostApplicationLifetime.StopApplication"/>), so the worker drains as on
/// SIGTERM; concurrency changes the worker's runners; revoke cancels the task if this worker holds it (and answers only
/// then). A message that is not a command is ignored with a debug line: what arrives on a group is input like any other.
/// </para>
/// </summary>
internal sealed partial class ControlListener(
    IChannelLayer channels,
    LocalProcess process,
    TaskWorker worker,
    IServiceProvider services,
    ILogger<ControlListener> logger) : IHostedService, IAsyncDisposable
{
    private IAsyncDisposable? _subscription;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _subscription = await channels.SubscribeAsync(ControlProtocol.Commands, OnMessageAsync, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Remote control is for operators: without it the process still runs its tasks.
            LogSubscribeFailed(e.Message);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _subscription, null) is { } subscription) await subscription.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Handles one message of the control group (public for tests of hostile input).</summary>
    internal async ValueTask OnMessageAsync(GroupMessage message)
    {
        var command = WorkerControl.TryRead(message.Message, OperationsJsonContext.Default.ControlCommand);
        if (command is null || string.IsNullOrEmpty(command.Id) || string.IsNullOrEmpty(command.Target) || string.IsNullOrEmpty(command.Type))
        {
            LogMalformed(message.Type, message.Offset);
            return;
        }
        if (command.Target != ControlProtocol.All && command.Target != process.Id) return;
        try
        {
            switch (command.Type)
            {
                case ControlProtocol.Ping:
                    var roles = process.Roles.Count == 0 ? "no roles" : string.Join(",", process.Roles);
                    await AnswerAsync(command, true, $"pong ({roles}, {worker.InFlight().Count} running)").ConfigureAwait(false);
                    break;
                case ControlProtocol.Stop:
                    await StopAsync(command).ConfigureAwait(false);
                    break;
                case ControlProtocol.Concurrency when command.Concurrency is { } n:
                    if (n < 1)
                    {
                        await AnswerAsync(command, false, $"concurrency must be at least 1, not {n}").ConfigureAwait(false);
                        break;
                    }
                    var old = worker.SetConcurrency(n);
                    await (old is { } was
                        ? AnswerAsync(command, true, $"concurrency {was} -> {n}")
                        : AnswerAsync(command, false, "no worker runs in this process")).ConfigureAwait(false);
                    break;
                case ControlProtocol.Revoke when !string.IsNullOrEmpty(command.TaskId):
                    if (worker.Revoke(command.TaskId) is { } done) await AnswerAsync(command, true, done).ConfigureAwait(false);
                    break;
                default:
                    LogMalformed(command.Type, message.Offset);
                    break;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogCommandFailed(command.Type, e.Message);
        }
    }

    private async Task StopAsync(ControlCommand command)
    {
        if (services.GetService<IHostApplicationLifetime>() is not { } lifetime)
        {
            await AnswerAsync(command, false, "this process has no host lifetime to stop").ConfigureAwait(false);
            return;
        }
        await AnswerAsync(command, true, "stopping: running tasks get the shutdown timeout").ConfigureAwait(false);
        LogStopRequested();
        // Not on this handler's turn: stopping waits for the hosted services, this listener among them.
        _ = Task.Run(lifetime.StopApplication, CancellationToken.None);
    }

    private ValueTask<GroupMessage> AnswerAsync(ControlCommand command, bool ok, string text) =>
        channels.GroupSendAsync(ControlProtocol.Replies,
            JsonSerializer.SerializeToElement(new ControlAnswer(ControlProtocol.Reply, command.Id, process.Id, ok, text), OperationsJsonContext.Default.ControlAnswer));

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored a message of type {Type} (offset {Offset}) on the control group: not a control command")]
    private partial void LogMalformed(string type, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control command {Type} failed: {Error}")]
    private partial void LogCommandFailed(string type, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Remote control is off in this process: subscribing to the control group failed: {Error}")]
    private partial void LogSubscribeFailed(string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Asked to stop by remote control; stopping gracefully")]
    private partial void LogStopRequested();
}
