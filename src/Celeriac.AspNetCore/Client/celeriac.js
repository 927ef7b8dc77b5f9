/*
 * celeriac.js: the browser client of Celeriac WebSocket consumers. Plain ES2020, no dependencies, no build step.
 * Load it as a classic script (app.MapCeleriacClient() serves it at /_celeriac/celeriac.js); it defines
 * window.Celeriac.Socket. The wire protocol is in docs/channels.md.
 *
 *   const socket = new Celeriac.Socket("/ws/time", {       // relative URLs resolve against the page (ws: or wss:)
 *     onOpen: async (socket, { reconnected }) => {},       // fetch initial state; runs once the `groups` below
 *                                                          // are joined; frames arriving meanwhile wait
 *     onMessage: (message, meta) => {},                    // meta = { group, offset } for group messages, null for
 *                                                          // app frames; message is parsed JSON, else the raw
 *                                                          // string or ArrayBuffer
 *     onReload: async (group) => {},                       // the server no longer has what was missed: fetch state
 *                                                          // again (default: onOpen(socket, { reconnected: true, reload: group }))
 *     onStatus: (status, info) => {},                      // "connecting" | "open" | "reconnecting" | "closed";
 *                                                          // info: { code, reason, attempt, delay, refused }
 *     onRefused: (group, reason) => {},                    // the consumer refused a join()
 *     backoff: { initialMs: 250, maxMs: 10000, factor: 2 },
 *     groups: ["user_alice"],                              // joined by the client itself, again after each reconnect
 *   });
 *   socket.join(group); socket.leave(group);
 *   socket.send(objectOrString);  // JSON-encodes objects; while not open, queued until the next open (returns false)
 *   socket.close();               // for good: no reconnect
 *   socket.offsets                // { group: last offset processed }; socket.status: the last status
 *
 * Frames are handled one at a time, in arrival order: a callback that returns a promise (onOpen, onMessage,
 * onReload, onRefused) holds the frames after it until it settles. A callback that throws is logged, not fatal.
 *
 * The initial state: onOpen runs once the server has answered the join of every group in `groups` (joined or
 * refused), so a message published after the state was read is never missed. Frames that arrive before (a replay,
 * messages of groups the server added) wait and are handled after onOpen, in order. The state may already include
 * some of them: apply messages idempotently (set a value, key points by time). A group joined later with join() does
 * not delay onOpen; if the server has not answered within `joinTimeoutMs` (default 10000), onOpen runs anyway.
 * A `reload` that came before onOpen calls nothing: onOpen has just fetched the state.
 *
 * Exactly once, in order, per group: a message at or below the group's last offset is dropped; one whose `prev`
 * (what the server last forwarded to this connection for the group) is above the last offset is held, a `resume` is
 * sent, and held messages are released in order when the gap is filled (or after a `reload`, which calls onReload
 * and moves the offset). After a `dropped` notice the client sends `resume` for every group.
 *
 * Reconnecting: after any close except socket.close(), the client waits a random delay between 0 and
 * min(maxMs, initialMs * factor^attempt) (full jitter; attempt resets after a connection that lasted 5 s) and
 * connects again with `celeriac-resume=group:offset,...` in the query string, re-sending `join` (with `after`) for
 * its own groups. A close with code 1008 (policy: not allowed, origin refused) is retried twice more, in case it was
 * a deploy or an expired session being renewed; the third in a row ends the socket with status "closed" and
 * info.refused = true, because retrying a refusal for ever only loads the server: show the user a way to sign in or
 * reload. A refusal before the upgrade (HTTP 401/403) cannot be told apart from an unreachable server in a browser
 * (both are code 1006), so it is retried with backoff like any outage.
 */
(function (global) {
  "use strict";

  const RESUME_PARAM = "celeriac-resume";
  const POLICY_CLOSE = 1008;
  const POLICY_TRIES = 3;
  const STABLE_MS = 5000;
  const OUTBOX_LIMIT = 1000;

  class Socket {
    constructor(url, options = {}) {
      this.url = new URL(url, global.location ? global.location.href : undefined);
      if (this.url.protocol === "http:") this.url.protocol = "ws:";
      if (this.url.protocol === "https:") this.url.protocol = "wss:";
      this.options = options;
      this.backoff = { initialMs: 250, maxMs: 10000, factor: 2, ...options.backoff };
      this.offsets = {};              // group -> last offset processed
      this.status = null;
      this._groups = new Set(options.groups || []);   // joined by the client: re-joined on reconnect
      this._leaving = new Set();      // left by the client, until the server confirms: drop their messages
      this._held = new Map();         // group -> Map(offset -> frame), messages after a gap
      this._resuming = new Set();     // groups with a gap and a `resume` sent for it
      this._outbox = [];              // app frames sent while not open
      this._queue = Promise.resolve();
      this._ws = null;
      this._openedAt = 0;
      this._attempt = 0;
      this._policyCloses = 0;
      this._opening = null;           // { reconnected, joining, early } until onOpen has run for this connection
      this._timer = null;
      this._closed = false;
      this._online = () => { if (this._timer !== null) { clearTimeout(this._timer); this._timer = null; this._connect(true); } };
      if (global.addEventListener) global.addEventListener("online", this._online);
      this._connect(false);
    }

    join(group) {
      this._groups.add(group);
      this._leaving.delete(group);
      this._sendFrame(this._joinFrame(group));
    }

    leave(group) {
      this._groups.delete(group);
      this._leaving.add(group);
      this._forget(group);
      this._sendFrame({ celeriac: "leave", group });
    }

    send(data) {
      const raw = typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ||
        (typeof Blob !== "undefined" && data instanceof Blob);
      const frame = raw ? data : JSON.stringify(data);
      if (this._isOpen()) { this._ws.send(frame); return true; }
      if (this._outbox.push(frame) > OUTBOX_LIMIT) this._outbox.shift();
      return false;
    }

    close(code = 1000, reason = "") {
      if (this._closed) return;
      this._closed = true;
      clearTimeout(this._timer);
      this._timer = null;
      if (global.removeEventListener) global.removeEventListener("online", this._online);
      if (this._ws) this._ws.close(code, reason);   // "closed" is reported by the close event
      else this._setStatus("closed", { code, reason });
    }

    // --- connection ---

    _connect(reconnected) {
      const url = new URL(this.url);
      const resume = Object.entries(this.offsets).map(([group, offset]) => `${group}:${offset}`).join(",");
      if (resume) url.searchParams.set(RESUME_PARAM, resume);
      if (!reconnected) this._setStatus("connecting", { attempt: 0 });
      const ws = new WebSocket(url.href);
      ws.binaryType = "arraybuffer";
      this._ws = ws;
      ws.onopen = () => this._opened(ws, reconnected);
      ws.onmessage = (event) => this._enqueue(() => this._receive(event.data));
      ws.onclose = (event) => this._onClose(ws, event);
    }

    _opened(ws, reconnected) {
      if (ws !== this._ws) return;
      this._openedAt = Date.now();
      this._setStatus("open", { reconnected });
      const joining = new Set(this._groups);
      for (const group of joining) this._sendFrame(this._joinFrame(group));
      for (const frame of this._outbox.splice(0)) ws.send(frame);
      const opening = { reconnected, joining, early: [] };
      // Set in the queue, after the frames of any earlier connection: a late `joined` of theirs must not count.
      this._enqueue(async () => {
        this._held.clear();           // the new connection replays everything after our offsets
        this._resuming.clear();
        this._opening = opening;
        if (joining.size === 0) await this._open(opening);
      });
      const limit = this.options.joinTimeoutMs ?? 10000;
      if (joining.size > 0) setTimeout(() => this._enqueue(() => this._open(opening)), limit);
    }

    // Calls onOpen once per connection (when its last group is joined, or when the join timeout gives up waiting),
    // then handles the frames that came before it.
    async _open(opening) {
      if (this._opening !== opening) return;
      this._opening = null;
      await this._call("onOpen", this, { reconnected: opening.reconnected });
      for (const data of opening.early) await this._frame(data, true);
    }

    async _receive(data) {
      const opening = this._opening;
      if (opening === null) return this._frame(data, false);
      opening.early.push(data);
      const frame = typeof data === "string" && data.startsWith("{") ? Socket._parse(data) : null;
      const answer = frame !== null && (frame.celeriac === "joined" || frame.celeriac === "refused");
      if (answer && opening.joining.delete(frame.group) && opening.joining.size === 0) await this._open(opening);
      return undefined;
    }

    static _parse(data) {
      try { return JSON.parse(data); } catch { return null; }
    }

    _onClose(ws, event) {
      if (ws !== this._ws) return;
      this._ws = null;
      const info = { code: event.code, reason: event.reason };
      if (this._closed) { this._setStatus("closed", info); return; }
      this._policyCloses = event.code === POLICY_CLOSE ? this._policyCloses + 1 : 0;
      if (this._policyCloses >= POLICY_TRIES) {
        this._closed = true;
        if (global.removeEventListener) global.removeEventListener("online", this._online);
        this._setStatus("closed", { ...info, refused: true });
        return;
      }
      if (this._openedAt && Date.now() - this._openedAt >= STABLE_MS) this._attempt = 0;
      this._openedAt = 0;
      const { initialMs, maxMs, factor } = this.backoff;
      const delay = Math.round(Math.random() * Math.min(maxMs, initialMs * factor ** this._attempt));
      this._attempt++;
      this._setStatus("reconnecting", { ...info, attempt: this._attempt, delay });
      this._timer = setTimeout(() => { this._timer = null; this._connect(true); }, delay);
    }

    // --- frames ---

    _enqueue(step) {
      this._queue = this._queue
        .then(() => (this._closed ? undefined : step()))
        .catch((error) => console.error("Celeriac: frame handling failed", error));
    }

    // `early`: the frame came before onOpen, which has just fetched the state.
    async _frame(data, early) {
      if (typeof data !== "string") return this._call("onMessage", data, null);
      let frame;
      try { frame = JSON.parse(data); } catch { return this._call("onMessage", data, null); }
      if (frame === null || typeof frame !== "object" || typeof frame.celeriac !== "string") {
        return this._call("onMessage", frame, null);
      }
      switch (frame.celeriac) {
        case "message": return this._groupMessage(frame);
        case "joined": return this._joined(frame.group, frame.offset, early);
        case "reload": return this._reload(frame.group, frame.offset, early);
        case "left":
          this._groups.delete(frame.group);
          this._leaving.delete(frame.group);
          this._forget(frame.group);
          return undefined;
        case "refused":
          this._groups.delete(frame.group);
          return this._call("onRefused", frame.group, frame.reason);
        case "dropped": return this._resume(Object.keys(this.offsets), false);
        case "error": console.warn("Celeriac: error from the server:", frame.reason); return undefined;
        default: return undefined;   // a newer server's frame: ignore
      }
    }

    // A frame follows the group's last offset when nothing was forwarded in between: its `prev` (the offset the server
    // last forwarded to this connection for the group) is not above it. A server without `prev` forwards every offset.
    static _follows(frame, last) {
      return (frame.prev ?? frame.offset - 1) <= last;
    }

    async _groupMessage(frame) {
      const { group, offset } = frame;
      if (this._leaving.has(group)) return;
      const last = this.offsets[group];
      if (last !== undefined && offset <= last) return;            // a duplicate
      if (last !== undefined && !Socket._follows(frame, last)) {   // a gap: hold, ask for what is missing
        if (!this._held.has(group)) this._held.set(group, new Map());
        this._held.get(group).set(offset, frame);
        if (!this._resuming.has(group)) this._resume([group], true);
        return;
      }
      await this._deliver(frame);
      await this._release(group);
    }

    // `joined` comes after any replay, in order: the client is in sync with the group up to its offset.
    async _joined(group, offset, early) {
      this._leaving.delete(group);
      const last = this.offsets[group];
      if (last !== undefined && offset < last) return this._reload(group, offset, early);   // the group's history was reset
      this.offsets[group] = offset;
      await this._release(group);
    }

    async _reload(group, offset, early) {
      if (!early) {   // else onOpen has just fetched the state
        if (this.options.onReload) await this._call("onReload", group);
        else await this._call("onOpen", this, { reconnected: true, reload: group });
      }
      this.offsets[group] = offset;
      this._resuming.delete(group);
      await this._release(group);
    }

    async _deliver(frame) {
      await this._call("onMessage", frame.message, { group: frame.group, offset: frame.offset });
      this.offsets[frame.group] = frame.offset;
    }

    // Delivers held messages that now follow the group's offset; asks again if a gap is left.
    async _release(group) {
      const held = this._held.get(group);
      if (!held) return;
      for (const offset of [...held.keys()].sort((a, b) => a - b)) {
        const next = held.get(offset);
        if (offset <= this.offsets[group]) { held.delete(offset); continue; }
        if (!Socket._follows(next, this.offsets[group])) break;
        held.delete(offset);
        await this._deliver(next);
      }
      if (held.size === 0) {
        this._held.delete(group);
        this._resuming.delete(group);
      } else if (!this._resuming.has(group)) {
        this._resume([group], true);
      }
    }

    _resume(groups, gap) {
      const after = {};
      for (const group of groups) {
        if (this.offsets[group] === undefined) continue;
        after[group] = this.offsets[group];
        if (gap) this._resuming.add(group);
      }
      if (Object.keys(after).length > 0) this._sendFrame({ celeriac: "resume", groups: after });
    }

    _forget(group) {
      delete this.offsets[group];
      this._held.delete(group);
      this._resuming.delete(group);
    }

    // --- helpers ---

    _joinFrame(group) {
      const frame = { celeriac: "join", group };
      if (this.offsets[group] !== undefined) frame.after = this.offsets[group];
      return frame;
    }

    _isOpen() {
      return this._ws !== null && this._ws.readyState === 1;   // WebSocket.OPEN
    }

    _sendFrame(frame) {
      if (this._isOpen()) this._ws.send(JSON.stringify(frame));   // when not open, the next open re-joins and resumes
    }

    _setStatus(status, info) {
      this.status = status;
      const handler = this.options.onStatus;
      if (typeof handler !== "function") return;
      try { handler(status, info); } catch (error) { console.error("Celeriac: onStatus failed", error); }
    }

    async _call(name, ...args) {
      const handler = this.options[name];
      if (typeof handler !== "function") return;
      try { await handler(...args); } catch (error) { console.error(`Celeriac: ${name} failed`, error); }
    }
  }

  global.Celeriac = Object.assign(global.Celeriac || {}, { Socket });
})(globalThis);
