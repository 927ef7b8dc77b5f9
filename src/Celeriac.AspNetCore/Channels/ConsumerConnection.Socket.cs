using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Celeriac.AspNetCore.Channels;

/// <summary>The reader and writer loops: the only code that touches the socket.</summary>
internal sealed partial class ConsumerConnection
{
    private static bool IsConnectionError(Exception e) =>
        e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or ConnectionAbortedException;

    /// <summary>Socket → inbox. Ends (and posts the end) on the client's close frame or a broken connection.</summary>
    private async Task ReadLoopAsync(WebSocket socket)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                // A zero-byte read first, so that an idle connection holds no buffer.
                var peek = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (peek.MessageType == WebSocketMessageType.Close)
                {
                    ClientClosed(socket);
                    return;
                }
                InboxItem item;
                if (peek.EndOfMessage)
                {
                    item = peek.MessageType == WebSocketMessageType.Text ? new InboxItem(InboxKind.Text, "") : new InboxItem(InboxKind.Binary, Array.Empty<byte>());
                }
                else
                {
                    var (read, result) = await ReadMessageAsync(socket).ConfigureAwait(false);
                    if (result == ReadResult.Closed)
                    {
                        ClientClosed(socket);
                        return;
                    }
                    if (result == ReadResult.TooBig)
                    {
                        LogMessageTooBig(_logger, Id, ConsumerName, _settings.MaxMessageBytes);
                        Close(WebSocketCloseStatus.MessageTooBig, "Message too big", discard: true);
                        await DrainUntilCloseAsync(socket).ConfigureAwait(false);
                        return;
                    }
                    item = read;
                }
                await _receiveSlots.WaitAsync().ConfigureAwait(false);
                _inbox.Writer.TryWrite(item);
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // Lost: the loop gets the end below; the writer is stopped by FinishSocketAsync.
        }
        finally
        {
            _inbox.Writer.TryWrite(InboxItem.Disconnected);
        }
    }

    private enum ReadResult
    {
        Message,
        Closed,
        TooBig,
    }

    /// <summary>Reads one whole message of at most <see cref="EndpointSettings.MaxMessageBytes"/> into a pooled buffer.</summary>
    private async ValueTask<(InboxItem Item, ReadResult Result)> ReadMessageAsync(WebSocket socket)
    {
        var max = _settings.MaxMessageBytes;
        var limit = (int)Math.Min((long)max + 1, Array.MaxLength);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 4096));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var received = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close) return (default, ReadResult.Closed);
                length += received.Count;
                if (length > max) return (default, ReadResult.TooBig);
                if (received.EndOfMessage)
                {
                    return received.MessageType == WebSocketMessageType.Text
                        ? (new InboxItem(InboxKind.Text, Encoding.UTF8.GetString(buffer, 0, length)), ReadResult.Message)
                        : (new InboxItem(InboxKind.Binary, buffer.AsSpan(0, length).ToArray()), ReadResult.Message);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>After refusing a message: skips what the client still sends until its close frame (or the abort).</summary>
    private static async Task DrainUntilCloseAsync(WebSocket socket)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while ((await socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>The client's close frame: the answer echoes its code, and nothing queued is sent any more.</summary>
    private void ClientClosed(WebSocket socket) =>
        Close(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription, discard: true);

    /// <summary>Send queue → socket, then the close frame.</summary>
    private async Task WriteLoopAsync(WebSocket socket)
    {
        await Task.Yield();
        var queue = _sendQueue.Reader;
        try
        {
            while (!_discard && await queue.WaitToReadAsync().ConfigureAwait(false))
            {
                while (!_discard && queue.TryRead(out var frame))
                {
                    var dropped = Interlocked.Exchange(ref _droppedUnreported, 0);
                    if (dropped > 0) await WriteAsync(socket, new Frame(ProtocolFrames.Dropped(dropped), WebSocketMessageType.Text)).ConfigureAwait(false);
                    await WriteAsync(socket, frame).ConfigureAwait(false);
                }
            }
            WebSocketCloseStatus status;
            string? reason;
            lock (_gate)
            {
                status = _closeStatus ?? WebSocketCloseStatus.NormalClosure;
                reason = _closeReason;
            }
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await (status == WebSocketCloseStatus.Empty
                    ? socket.CloseOutputAsync(WebSocketCloseStatus.Empty, null, CancellationToken.None)
                    : socket.CloseOutputAsync(status, reason, CancellationToken.None)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            Abort();
        }
    }

    private async ValueTask WriteAsync(WebSocket socket, Frame frame)
    {
        var send = socket.SendAsync(frame.Data.AsMemory(), frame.Type, endOfMessage: true, CancellationToken.None);
        // The client is not taking frames as fast as they come: a write that stalls longer than the timeout aborts the
        // connection. Armed only for a write that did not complete at once, so that one costs no timer.
        var watched = !send.IsCompleted && _settings.SendTimeout > TimeSpan.Zero;
        if (watched)
        {
            _stallTimer ??= _time.CreateTimer(static c => ((ConsumerConnection)c!).SendStalled(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _stallTimer.Change(_settings.SendTimeout, Timeout.InfiniteTimeSpan);
        }
        try
        {
            await send.ConfigureAwait(false);
        }
        finally
        {
            if (watched) _stallTimer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        ChannelsDiagnostics.FramesSent.Add(1);
        Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
    }

    private void SendStalled()
    {
        LogSendStalled(_logger, Id, ConsumerName, _settings.SendTimeout);
        Abort();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} ({Consumer}) took no frame for {Timeout} (the client stopped reading); aborting it")]
    private static partial void LogSendStalled(ILogger logger, string connection, string consumer, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "WebSocket connection {Connection} ({Consumer}) sent a message over {MaxBytes} bytes; closing it with 1009")]
    private static partial void LogMessageTooBig(ILogger logger, string connection, string consumer, int maxBytes);
}
