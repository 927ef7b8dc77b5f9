using System.Text.Json;
using Celeriac.Testing.Browser;
using Microsoft.Playwright;

namespace Celeriac.AspNetCore.BrowserTests;

/// <summary>
/// celeriac.js against a fake WebSocket in the browser: each test plays the server's side of docs/channels.md
/// frame by frame (gaps, duplicates, reload, reconnect, policy refusals), which a real server rarely produces on cue.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ClientProtocolTests(ChromiumFixture chromium)
{
    // Installed before celeriac.js: a WebSocket the test drives (open, receive, drop), and helpers.
    private const string Harness = """
        class FakeWebSocket {
          constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeWebSocket.all.push(this); }
          send(data) {
            if (this.readyState !== 1) throw new Error("send while not open");
            try { this.sent.push(JSON.parse(data)); } catch { this.sent.push(data); }
          }
          close(code = 1000, reason = "") {
            if (this.readyState === 3) return;
            this.readyState = 3;
            setTimeout(() => this.onclose({ code, reason }), 0);
          }
          open() { this.readyState = 1; this.onopen({}); }
          receive(frame) { this.onmessage({ data: typeof frame === "string" ? frame : JSON.stringify(frame) }); }
          drop(code = 1006, reason = "") { this.readyState = 3; this.onclose({ code, reason }); }
        }
        FakeWebSocket.all = [];
        window.WebSocket = FakeWebSocket;
        window.last = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];
        window.log = [];
        window.statuses = [];
        window.msg = (group, offset) => ({ celeriac: "message", group, offset, message: { type: "t", n: offset } });
        window.settle = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
        window.until = async (condition, ms = 2000) => {
          for (const end = Date.now() + ms; !condition(); await settle(5)) {
            if (Date.now() > end) throw new Error("timed out: " + condition);
          }
        };
        window.make = (options = {}) => new Celeriac.Socket("ws://celeriac.test/ws", {
          onMessage: (m, meta) => log.push(meta ? `${meta.group}:${meta.offset}:${m.n}` : `app:${typeof m === "string" ? m : JSON.stringify(m)}`),
          onStatus: (status, info) => statuses.push(`${status}${info.code ? ":" + info.code : ""}${info.refused ? ":refused" : ""}`),
          backoff: { initialMs: 1, maxMs: 1, factor: 2 },
          ...options,
        });
        """;

    [BrowserFact]
    public async Task Gap_is_held_resumed_once_and_released_in_order_and_duplicates_are_dropped()
    {
        using var result = await RunAsync("""
            const socket = make();
            const ws = last();
            ws.open();
            ws.receive({ celeriac: "joined", group: "news", offset: 0 });
            ws.receive(msg("news", 1)); ws.receive(msg("news", 1));
            ws.receive(msg("news", 3)); ws.receive(msg("news", 4));
            await settle();
            const beforeFill = [...log];
            ws.receive(msg("news", 2)); ws.receive(msg("news", 3)); ws.receive(msg("news", 5));
            await settle();
            return { beforeFill, log, sent: ws.sent, offsets: socket.offsets };
            """);
        var root = result.RootElement;
        Assert.Equal(["news:1:1"], Strings(root, "beforeFill"));
        Assert.Equal(["news:1:1", "news:2:2", "news:3:3", "news:4:4", "news:5:5"], Strings(root, "log"));
        Assert.Equal("""[{"celeriac":"resume","groups":{"news":1}}]""", root.GetProperty("sent").GetRawText());
        Assert.Equal(5, root.GetProperty("offsets").GetProperty("news").GetInt64());
    }

    [BrowserFact]
    public async Task With_prev_skipped_offsets_are_no_gap_and_a_prev_above_the_last_offset_is_one()
    {
        using var result = await RunAsync("""
            const socket = make();
            const ws = last();
            ws.open();
            const m = (offset, prev) => ({ ...msg("news", offset), prev });
            ws.receive({ celeriac: "joined", group: "news", offset: 1 });
            ws.receive(m(2, 1)); ws.receive(m(5, 2));        // the server's handler skipped 3 and 4: no gap
            ws.receive(m(9, 7));                             // 6..7 forwarded but lost: a gap
            await settle();
            const beforeFill = [...log];
            const sentBeforeFill = [...ws.sent];
            ws.receive(m(7, 5)); ws.receive(m(9, 7));        // the replay after 5
            await settle();
            return { beforeFill, sentBeforeFill, log, offsets: socket.offsets };
            """);
        var root = result.RootElement;
        Assert.Equal(["news:2:2", "news:5:5"], Strings(root, "beforeFill"));
        Assert.Equal("""[{"celeriac":"resume","groups":{"news":5}}]""", root.GetProperty("sentBeforeFill").GetRawText());
        Assert.Equal(["news:2:2", "news:5:5", "news:7:7", "news:9:9"], Strings(root, "log"));
        Assert.Equal(9, root.GetProperty("offsets").GetProperty("news").GetInt64());
    }

    [BrowserFact]
    public async Task Reload_calls_onReload_before_later_messages_and_moves_the_offset()
    {
        using var result = await RunAsync("""
            const socket = make({ onReload: async (group) => { log.push("reload:" + group); await settle(30); log.push("reloaded"); } });
            const ws = last();
            ws.open();
            ws.receive({ celeriac: "joined", group: "news", offset: 0 });
            ws.receive(msg("news", 1));
            ws.receive(msg("news", 5));                                      // gap: held, resume sent
            ws.receive({ celeriac: "reload", group: "news", offset: 4 });    // 2..4 are gone
            ws.receive(msg("news", 6));                                      // arrives while onReload runs
            await until(() => log.length === 5);
            return { log, sent: ws.sent, offsets: socket.offsets };
            """);
        var root = result.RootElement;
        Assert.Equal(["news:1:1", "reload:news", "reloaded", "news:5:5", "news:6:6"], Strings(root, "log"));
        Assert.Equal("""[{"celeriac":"resume","groups":{"news":1}}]""", root.GetProperty("sent").GetRawText());
        Assert.Equal(6, root.GetProperty("offsets").GetProperty("news").GetInt64());
    }

    [BrowserFact]
    public async Task Frames_wait_for_onOpen_and_app_frames_reach_onMessage_without_meta()
    {
        using var result = await RunAsync("""
            let release;
            const gate = new Promise((resolve) => { release = resolve; });
            make({ onOpen: async (socket, { reconnected }) => { log.push("open:" + reconnected); await gate; log.push("state"); } });
            const ws = last();
            ws.open();
            ws.receive({ celeriac: "joined", group: "news", offset: 0 });
            ws.receive(msg("news", 1));
            ws.receive({ hello: 1 });
            ws.receive("plain text");
            await settle(20);
            const during = [...log];
            release();
            await settle();
            return { during, log };
            """);
        var root = result.RootElement;
        Assert.Equal(["open:false"], Strings(root, "during"));
        Assert.Equal(["open:false", "state", "news:1:1", """app:{"hello":1}""", "app:plain text"], Strings(root, "log"));
    }

    [BrowserFact]
    public async Task Reconnect_resumes_from_offsets_rejoins_own_groups_and_flushes_queued_sends()
    {
        using var result = await RunAsync("""
            const socket = make({ groups: ["user_alice"], onOpen: (s, { reconnected }) => log.push("open:" + reconnected) });
            const first = last();
            first.open();
            first.receive({ celeriac: "joined", group: "user_alice", offset: 3 });
            first.receive({ celeriac: "joined", group: "news", offset: 0 });
            first.receive(msg("news", 1)); first.receive(msg("news", 2)); first.receive(msg("user_alice", 4));
            await settle();
            first.drop(1006);
            const queued = socket.send({ queued: 1 });
            await until(() => FakeWebSocket.all.length === 2);
            const second = last();
            second.open();
            second.receive(msg("news", 2)); second.receive(msg("news", 3));
            second.receive({ celeriac: "joined", group: "user_alice", offset: 4 });
            await settle();
            return { firstUrl: first.url, resume: new URL(second.url).searchParams.get("celeriac-resume"),
                     firstSent: first.sent, secondSent: second.sent, queued, log, statuses };
            """);
        var root = result.RootElement;
        Assert.Equal("ws://celeriac.test/ws", root.GetProperty("firstUrl").GetString());
        Assert.Equal("user_alice:4,news:2", root.GetProperty("resume").GetString());
        Assert.Equal("""[{"celeriac":"join","group":"user_alice"}]""", root.GetProperty("firstSent").GetRawText());
        Assert.Equal("""[{"celeriac":"join","group":"user_alice","after":4},{"queued":1}]""", root.GetProperty("secondSent").GetRawText());
        Assert.False(root.GetProperty("queued").GetBoolean());
        Assert.Equal(["open:false", "news:1:1", "news:2:2", "user_alice:4:4", "open:true", "news:3:3"], Strings(root, "log"));
        Assert.Equal(["connecting", "open", "reconnecting:1006", "open"], Strings(root, "statuses"));
    }

    [BrowserFact]
    public async Task onOpen_waits_until_the_clients_groups_are_joined_and_frames_before_it_follow_it_in_order()
    {
        using var result = await RunAsync("""
            const socket = make({ groups: ["user_alice"], onReload: (group) => log.push("reload:" + group),
              onOpen: async (s, { reconnected }) => { log.push(`open:${reconnected}:${JSON.stringify(s.offsets)}`); await settle(20); } });
            const ws = last();
            ws.open();
            ws.receive({ celeriac: "joined", group: "time", offset: 6 });     // a group the server added
            ws.receive(msg("time", 7));
            ws.receive("app frame");
            await settle(20);
            const beforeJoined = [...log];
            ws.receive({ celeriac: "reload", group: "user_alice", offset: 9 });
            ws.receive({ celeriac: "joined", group: "user_alice", offset: 9 });
            ws.receive(msg("user_alice", 10));
            await until(() => log.length === 4);
            return { beforeJoined, log, offsets: socket.offsets };
            """);
        var root = result.RootElement;
        Assert.Empty(Strings(root, "beforeJoined"));
        Assert.Equal(["open:false:{}", "time:7:7", "app:app frame", "user_alice:10:10"], Strings(root, "log"));
        Assert.Equal(7, root.GetProperty("offsets").GetProperty("time").GetInt64());
        Assert.Equal(10, root.GetProperty("offsets").GetProperty("user_alice").GetInt64());
    }

    [BrowserFact]
    public async Task onOpen_runs_after_joinTimeoutMs_when_a_join_is_never_answered()
    {
        using var result = await RunAsync("""
            make({ groups: ["quiet"], joinTimeoutMs: 50, onOpen: (s, { reconnected }) => log.push("open:" + reconnected) });
            const ws = last();
            ws.open();
            ws.receive({ celeriac: "joined", group: "news", offset: 0 });
            ws.receive(msg("news", 1));
            await settle(10);
            const early = [...log];
            await until(() => log.length === 2);
            return { early, log };
            """);
        var root = result.RootElement;
        Assert.Empty(Strings(root, "early"));
        Assert.Equal(["open:false", "news:1:1"], Strings(root, "log"));
    }

    [BrowserFact]
    public async Task Policy_close_is_retried_twice_then_the_socket_stays_closed()
    {
        using var result = await RunAsync("""
            make();
            for (let i = 1; i <= 3; i++) {
              await until(() => FakeWebSocket.all.length === i);
              last().open();
              last().drop(1008, "not allowed");
            }
            await settle(50);
            return { sockets: FakeWebSocket.all.length, statuses };
            """);
        var root = result.RootElement;
        Assert.Equal(3, root.GetProperty("sockets").GetInt32());
        Assert.Equal(["connecting", "open", "reconnecting:1008", "open", "reconnecting:1008", "open", "closed:1008:refused"],
            Strings(root, "statuses"));
    }

    [BrowserFact]
    public async Task Close_does_not_reconnect_dropped_resumes_every_group_and_refused_groups_are_not_rejoined()
    {
        using var result = await RunAsync("""
            const refused = [];
            const socket = make({ groups: ["a", "b"], onRefused: (group, reason) => refused.push(`${group}:${reason}`) });
            const first = last();
            first.open();
            first.receive({ celeriac: "joined", group: "a", offset: 7 });
            first.receive({ celeriac: "refused", group: "b", reason: "not yours" });
            first.receive({ celeriac: "joined", group: "news", offset: 2 });
            first.receive({ celeriac: "dropped", count: 3 });
            await settle();
            first.drop(1001);
            await until(() => FakeWebSocket.all.length === 2);
            const second = last();
            second.open();
            socket.close();
            await settle(30);
            return { refused, firstSent: first.sent, secondSent: second.sent, sockets: FakeWebSocket.all.length, statuses };
            """);
        var root = result.RootElement;
        Assert.Equal(["b:not yours"], Strings(root, "refused"));
        Assert.Equal("""[{"celeriac":"join","group":"a"},{"celeriac":"join","group":"b"},{"celeriac":"resume","groups":{"a":7,"news":2}}]""",
            root.GetProperty("firstSent").GetRawText());
        Assert.Equal("""[{"celeriac":"join","group":"a","after":7}]""", root.GetProperty("secondSent").GetRawText());
        Assert.Equal(2, root.GetProperty("sockets").GetInt32());
        Assert.Equal(["connecting", "open", "reconnecting:1001", "open", "closed:1000"], Strings(root, "statuses"));
    }

    private async Task<JsonDocument> RunAsync(string body)
    {
        await using var page = await chromium.NewPageAsync("about:blank");
        await page.Page.AddScriptTagAsync(new PageAddScriptTagOptions { Content = Harness });
        await page.Page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = Path.Combine(AppContext.BaseDirectory, "celeriac.js") });
        var json = await page.EvaluateAsync<string>($"(async () => JSON.stringify(await (async () => {{\n{body}\n}})()))()");
        return JsonDocument.Parse(json);
    }

    private static string[] Strings(JsonElement root, string name) =>
        [.. root.GetProperty(name).EnumerateArray().Select(e => e.GetString() ?? "")];
}
