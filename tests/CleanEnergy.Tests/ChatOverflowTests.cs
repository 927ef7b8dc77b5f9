using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Celeriac;
using Microsoft.Extensions.DependencyInjection;

namespace CleanEnergy.Tests;

/// <summary>
/// The chat room over the app's own stack (SQLite channel layer, cookie login, <c>ChatConsumer</c>, real Kestrel): a
/// client that stops reading while 5,000 messages go to its room is told how many it lost and gets every one back.
/// </summary>
public sealed class ChatOverflowTests
{
    [Fact]
    public async Task A_chat_client_that_stopped_reading_while_5000_messages_went_to_its_room_is_told_and_resumes_every_one()
    {
        const int Count = 5000;
        await using var app = await EnergyWebApp.StartAsync(new Dictionary<string, string?> { ["Celeriac:Channels:HistoryLength"] = "10000" });
        var cookies = new CookieContainer();
        using var http = app.Client(cookies);
        await EnergyWebApp.LoginAsync(http);
        using var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        socket.Options.SetRequestHeader("Origin", app.Address.GetLeftPart(UriPartial.Authority));
        await socket.ConnectAsync(new Uri($"ws://{app.Address.Authority}/ws/chat/lobby"), CancellationToken.None);

        // The client reads nothing while the room gets 5,000 messages of 1,000 characters (the longest a user may send).
        var layer = app.App.Services.GetRequiredService<IChannelLayer>();
        for (var i = 1; i <= Count; i++)
            await layer.GroupSendAsync("chat.lobby", new { type = "chat.message", room = "lobby", userName = "alice", name = "Alice", text = $"{i} ".PadRight(1000, 'x'), at = DateTimeOffset.UtcNow });

        // Then it reads as celeriac.js does: in order, a frame whose prev is past its offset held until the gap is
        // filled, and a resume from its offset after each dropped notice.
        var buffer = new byte[1 << 20];
        long last = 0, dropped = 0;
        var held = new SortedDictionary<long, long>();
        var texts = new HashSet<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (last < Count)
        {
            var frame = await ReceiveAsync(socket, buffer, timeout.Token);
            if (frame.TryGetProperty("type", out var type))
            {
                Assert.Equal("chat.history", type.GetString());
                continue;
            }
            switch (frame.GetProperty("celeriac").GetString())
            {
                case "joined":
                    break;
                case "message":
                    var offset = frame.GetProperty("offset").GetInt64();
                    texts.Add(frame.GetProperty("message").GetProperty("text").GetString()!.Split(' ')[0]);
                    if (offset <= last) break;
                    held[offset] = frame.GetProperty("prev").GetInt64();
                    while (held.Count > 0 && held.First() is var (next, prev) && prev <= last)
                    {
                        held.Remove(next);
                        last = next;
                    }
                    break;
                case "dropped":
                    dropped += frame.GetProperty("count").GetInt64();
                    var resume = JsonSerializer.SerializeToUtf8Bytes(new { celeriac = "resume", groups = new Dictionary<string, long> { ["chat.lobby"] = last } });
                    await socket.SendAsync(resume, WebSocketMessageType.Text, true, timeout.Token);
                    break;
                default:
                    Assert.Fail($"unexpected frame {frame}");
                    break;
            }
        }
        Assert.True(dropped > 0, "the flood overflowed no send queue: the test proves nothing");
        Assert.Equal(Count, last);
        Assert.Equal(Count, texts.Count);
        Assert.Equal(WebSocketState.Open, socket.State);
    }

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            length += result.Count;
            if (result.EndOfMessage) return JsonSerializer.Deserialize<JsonElement>(Encoding.UTF8.GetString(buffer, 0, length));
        }
    }
}
