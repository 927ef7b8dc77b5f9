/*
 * The Celeriac dashboard: one page, eight views chosen by the address's #hash. Live numbers come from the server's
 * one sampler over Celeriac's WebSocket groups (celeriac.js, group `celeriac.dashboard`, one `dashboard.snapshot` a
 * second); lists that need a query (tasks, dead letters, schedules, events) are read over HTTP when their view opens
 * and after each action. Actions are POSTs carrying the antiforgery token in its header. Every value from the store
 * is put in the page as text (textContent, never innerHTML).
 */
(function () {
  "use strict";

  const WINDOW = 3600;                              // seconds of rate history on the chart
  const $ = (id) => document.getElementById(id);
  const state = { info: null, token: null, snapshot: null, page: null, series: { x: [], s: [], f: [], r: [] }, chart: null, selected: new Set() };

  // --- DOM helpers: text only ---

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const pad = (n) => String(n).padStart(2, "0");
  function time(v) { const d = new Date(v); return Number.isNaN(d.getTime()) ? "–" : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; }
  function dateTime(v) { if (!v) return "–"; const d = new Date(v); return Number.isNaN(d.getTime()) ? "–" : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time(d)}`; }
  function ago(v) {
    if (!v) return "–";
    const s = Math.max(0, (Date.now() - new Date(v).getTime()) / 1000);
    return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${(s / 3600).toFixed(1)} h ago` : `${Math.round(s / 86400)} d ago`;
  }
  function age(seconds) {
    if (seconds == null) return "–";
    return seconds < 1 ? "<1 s" : seconds < 120 ? `${Math.round(seconds)} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
  }
  const n = (v) => (v == null ? "–" : Number(v).toLocaleString());
  const ms = (v) => (v == null ? "–" : v < 1 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : `${(v / 1000).toFixed(2)} s`);
  const rate = (v) => (v == null ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2));
  const empty = (cols, text) => el("tr", { class: "empty" }, el("td", { colspan: cols }, text));
  function card(title, hint, ...body) {
    return el("div", { class: "card" }, el("div", { class: "card-head" }, el("h2", null, title), hint ? el("span", { class: "hint" }, hint) : null), ...body);
  }
  function toast(text, bad) {
    const t = $("toast");
    t.textContent = text;
    t.className = "toast" + (bad ? " bad" : "");
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // --- HTTP ---

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      if (!state.token) await loadToken();
      init.headers[state.token.header] = state.token.token;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch("api/" + path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${method} ${path}: HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }
  async function loadToken() { state.token = await api("GET", "antiforgery"); }

  /** Runs an action; shows its outcome; the button is disabled meanwhile. */
  async function act(button, what, path, body, after) {
    if (button) button.disabled = true;
    try {
      const result = await api("POST", path, body);
      toast(typeof what === "function" ? what(result) : what);
      if (after) await after(result);
      return result;
    } catch (e) {
      toast(e.message, true);
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** A button that asks to be clicked again within 4 s before it acts. */
  function confirmButton(label, confirmLabel, onConfirm, attributes) {
    const button = el("button", { type: "button", class: "danger", ...attributes }, label);
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.classList.add("armed");
        button.textContent = confirmLabel;
        armed = setTimeout(() => { armed = null; button.classList.remove("armed"); button.textContent = label; }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.classList.remove("armed");
      button.textContent = label;
      await onConfirm(button);
    });
    return button;
  }
  const canAct = () => state.info && !state.info.readOnly;
  const unavailable = (what) => card(what, null, el("p", { class: "unavailable" }, `${what}: not available in this app.`));

  // --- theme, menu, banners ---

  function initChrome() {
    const saved = localStorage.getItem("celeriac.theme");
    if (saved) document.documentElement.dataset.theme = saved;
    $("theme").addEventListener("click", () => {
      const dark = getComputedStyle(document.documentElement).colorScheme === "dark";
      const next = dark ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("celeriac.theme", next);
      if (state.chart) state.chart.redraw();
    });
    $("menu").addEventListener("click", () => {
      const open = $("nav").classList.toggle("open");
      $("menu").setAttribute("aria-expanded", String(open));
    });
    $("nav").addEventListener("click", () => $("nav").classList.remove("open"));
  }

  function renderBanners() {
    const list = [];
    if (state.info.loopbackOnly) list.push(el("div", { class: "banner warn", id: "banner-loopback" },
      "Local requests only: this dashboard has no authorization policy, so it answers only requests from this machine. Add ",
      el("code", null, ".RequireAuthorization(\"policy\")"), " to MapCeleriacDashboard to open it to your operators."));
    if (state.info.readOnly) list.push(el("div", { class: "banner info", id: "banner-readonly" }, "Read-only: actions are hidden."));
    for (const error of state.snapshot?.errors || []) list.push(el("div", { class: "banner bad" }, error));
    $("banners").replaceChildren(...list);
  }

  // --- rate history and the chart ---

  function addRates(r) {
    if (!r) return;
    const sr = state.series;
    for (let i = 0; i < r.succeeded.length; i++) {
      const t = r.start + i;
      const last = sr.x.length ? sr.x[sr.x.length - 1] : -1;
      if (t <= last) {            // a second already shown: keep the larger count (a late measurement)
        const k = sr.x.length - 1 - (last - t);
        if (k >= 0 && sr.x[k] === t) { sr.s[k] = Math.max(sr.s[k], r.succeeded[i]); sr.f[k] = Math.max(sr.f[k], r.failed[i]); sr.r[k] = Math.max(sr.r[k], r.retried[i]); }
        continue;
      }
      for (let gap = last + 1; last >= 0 && gap < t && t - gap < WINDOW; gap++) { sr.x.push(gap); sr.s.push(0); sr.f.push(0); sr.r.push(0); }
      sr.x.push(t); sr.s.push(r.succeeded[i]); sr.f.push(r.failed[i]); sr.r.push(r.retried[i]);
    }
    const from = sr.x.length ? sr.x[sr.x.length - 1] - WINDOW : 0;
    let drop = 0;
    while (drop < sr.x.length && sr.x[drop] <= from) drop++;
    if (drop) for (const k of ["x", "s", "f", "r"]) sr[k].splice(0, drop);
  }

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function makeChart(box) {
    if (typeof uPlot === "undefined") { box.textContent = "The chart library did not load."; return null; }
    const axis = () => ({ stroke: css("--chart-axis"), grid: { stroke: css("--chart-grid") }, ticks: { stroke: css("--chart-grid") } });
    const chart = new uPlot({
      width: Math.max(300, box.clientWidth), height: 260, padding: [12, 8, 0, 4],
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, Math.ceil((max || 0) * 1.15))] } },
      series: [
        { value: (u, v) => (v == null ? "–" : time(v * 1000)) },
        { label: "Succeeded /s", stroke: "#16a34a", fill: "rgba(22,163,74,0.10)", width: 1.5, points: { show: false } },
        { label: "Failed /s", stroke: "#dc2626", width: 1.5, points: { show: false } },
        { label: "Retried /s", stroke: "#d97706", width: 1.5, points: { show: false } },
      ],
      axes: [
        { ...axis(), values: (u, splits) => splits.map((s) => time(s * 1000).slice(0, 5)) },
        { ...axis(), size: 44 },
      ],
    }, [[], [], [], []], box);
    new ResizeObserver(() => chart.setSize({ width: Math.max(300, box.clientWidth), height: 260 })).observe(box);
    return chart;
  }

  function drawChart() {
    const box = $("chart");
    if (!box) return;
    if (!state.chart || !box.contains(state.chart.root)) state.chart = makeChart(box);
    if (!state.chart) return;
    const sr = state.series;
    state.chart.setData([sr.x, sr.s, sr.f, sr.r]);
    box.dataset.points = String(sr.x.length);
    box.dataset.succeeded = String(sr.s.reduce((a, b) => a + b, 0));
  }

  // --- live views ---

  const sum = (list, f) => list.reduce((a, b) => a + f(b), 0);
  function lastSeconds(k, seconds) { const a = state.series[k]; return sum(a.slice(-seconds), (v) => v); }

  function stat(id, label, value, unit, sub, tone) {
    return el("div", { class: "card stat" + (tone ? " " + tone : ""), id },
      el("div", { class: "label" }, label),
      el("div", { class: "value" }, el("span", { class: "v" }, value), unit ? el("small", null, unit) : null),
      el("div", { class: "sub" }, sub));
  }

  function beatText(beat) {
    if (!beat) return ["–", ""];
    if (beat.here) return ["this process", "leads the beat"];
    if (beat.schedulers && beat.schedulers.length > 0) return [`${beat.schedulers.length} running`, beat.runsHere ? "this process follows" : "in other processes"];
    if (beat.schedulers) return ["none", "no process runs a scheduler"];
    return [beat.runsHere ? "following" : "elsewhere", beat.runsHere ? "this process runs a follower" : "presence not available"];
  }

  function renderOverview() {
    const s = state.snapshot;
    const page = $("page-overview");
    if (!s) { page.replaceChildren(card("Overview", null, el("p", { class: "unavailable" }, "Waiting for the first snapshot…"))); return; }
    const perSecond = lastSeconds("s", 10) / 10;
    const failedHour = lastSeconds("f", WINDOW);
    const retriedHour = lastSeconds("r", WINDOW);
    const ready = sum(s.queues, (q) => q.ready);
    const workers = s.processes ? s.processes.filter((p) => p.roles.includes("worker")) : null;
    const [beatValue, beatSub] = beatText(s.beat);
    const stats = el("section", { class: "stats" },
      stat("stat-throughput", "Succeeded", rate(perSecond), "/s", `${n(lastSeconds("s", WINDOW))} in the last hour`, perSecond > 0 ? "good" : null),
      stat("stat-failed", "Failed", n(failedHour), "last hour", `${n(retriedHour)} retries`, failedHour > 0 ? "bad" : null),
      stat("stat-runtime", "Run time p50", ms(s.p50), null, `p95 ${ms(s.p95)} · ${n(s.runTimeSamples)} runs, 5 min`),
      stat("stat-ready", "Ready", n(ready), "msgs", `${n(sum(s.queues, (q) => q.leased))} running · ${n(sum(s.queues, (q) => q.delayed))} delayed`, ready > 0 && s.queues.some((q) => (q.oldestReadyAgeSeconds || 0) > 60) ? "warn" : null),
      stat("stat-workers", "Live workers", workers ? n(workers.length) : "–", null, workers ? `${n(sum(workers, (p) => p.inFlight.length))} tasks in flight` : "presence not available"),
      stat("stat-dead", "Dead letters", n(s.deadLetters), null, el("a", { href: "#dead-letters" }, "repair →"), s.deadLetters > 0 ? "bad" : "good"));
    if (!page.querySelector("#chart")) {
      page.replaceChildren(stats,
        card("Tasks per second", "this process's worker · last hour · drag to zoom", el("div", { id: "chart", class: "chart", dataset: { points: "0" } })),
        el("section", { class: "columns" }, el("div", { id: "overview-queues" }), el("div", { id: "overview-beat" })));
      state.chart = null;
    } else {
      page.querySelector(".stats").replaceWith(stats);
    }
    drawChart();
    $("overview-queues").replaceChildren(card("Queue depths", null, el("div", { class: "legend-dots" },
      el("span", null, el("i", { style: "background:#2563eb" }), "ready"), el("span", null, el("i", { style: "background:#f59e0b" }), "delayed"), el("span", null, el("i", { style: "background:#22c55e" }), "running")),
      depthTable(s.queues)));
    $("overview-beat").replaceChildren(card("Beat", null, el("dl", { class: "facts" },
      el("dt", null, "Leader"), el("dd", { id: "beat-leader" }, beatValue), el("dt", null, ""), el("dd", { class: "muted small" }, beatSub),
      el("dt", null, "Sampled"), el("dd", { class: "mono" }, time(s.at)), el("dt", null, "Node"), el("dd", { class: "mono small" }, s.node))));
  }

  function depthTable(queues) {
    const max = Math.max(1, ...queues.map((q) => q.ready + q.delayed + q.leased));
    const rows = queues.map((q) => {
      const w = (v) => `width:${(100 * v) / max}%`;
      return el("tr", { dataset: { queue: q.queue } },
        el("td", { class: "name" }, q.queue),
        el("td", { style: "width:45%" }, el("div", { class: "bar", title: `${q.ready} ready, ${q.delayed} delayed, ${q.leased} running` },
          el("span", { class: "ready", style: w(q.ready) }), el("span", { class: "delayed", style: w(q.delayed) }), el("span", { class: "leased", style: w(q.leased) }))),
        el("td", { class: "num" }, n(q.ready + q.delayed + q.leased)));
    });
    return el("table", null, el("tbody", null, rows.length ? rows : [empty(3, "No queues yet.")]));
  }

  function renderQueues() {
    const s = state.snapshot;
    if (!s) return;
    const rows = s.queues.map((q) => el("tr", { dataset: { queue: q.queue } },
      el("td", { class: "name" }, q.queue),
      el("td", { class: "num" }, n(q.ready)), el("td", { class: "num" }, n(q.delayed)), el("td", { class: "num" }, n(q.leased)),
      el("td", { class: "num" + ((q.oldestReadyAgeSeconds || 0) > 60 ? " error-text" : "") }, age(q.oldestReadyAgeSeconds)),
      el("td", { class: "num hide-narrow" }, rate(q.inPerSecond)), el("td", { class: "num hide-narrow" }, rate(q.outPerSecond)),
      el("td", { class: "num" }, q.deadLetters ? el("a", { href: "#dead-letters", onclick: () => { deadFilter.queue = q.queue; } }, n(q.deadLetters)) : "0"),
      el("td", { class: "actions" }, canAct() ? confirmButton("Purge", "Purge ready + delayed?", (b) =>
        act(b, (r) => `Purged ${r.count} message(s) from ${q.queue}.`, "queues/purge", { queue: q.queue }), { dataset: { action: "purge" } }) : null)));
    $("page-queues").replaceChildren(card("Queues", "live · rates are per second, estimated from this process's worker", el("div", { class: "scroll" }, el("table", { id: "queues" },
      el("thead", null, el("tr", null, el("th", null, "Queue"), el("th", { class: "num" }, "Ready"), el("th", { class: "num" }, "Delayed"), el("th", { class: "num" }, "Running"),
        el("th", { class: "num" }, "Oldest ready"), el("th", { class: "num hide-narrow" }, "In /s"), el("th", { class: "num hide-narrow" }, "Out /s"), el("th", { class: "num" }, "Dead"), el("th"))),
      el("tbody", null, rows.length ? rows : [empty(9, "No queues yet.")])))));
  }

  function renderWorkers() {
    const s = state.snapshot;
    if (!state.info.features.workers) { $("page-workers").replaceChildren(unavailable("Worker presence")); return; }
    if (!s || !s.processes) return;
    if ($("page-workers").contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;   // typing a concurrency
    const rows = s.processes.map((p) => el("tr", { dataset: { process: p.id } },
      el("td", null, el("div", { class: "name mono" }, p.id), el("div", { class: "muted small" }, `${p.roles.join(", ")} · v${p.version} · up since ${dateTime(p.startedAt)}`)),
      el("td", null, el("span", { class: "pill " + (p.status === "running" ? "good" : "warn") }, p.status)),
      el("td", { class: "small" }, p.queues.join(", ") || "–"),
      el("td", { class: "num" }, `${p.inFlight.length} / ${p.concurrency}`),
      el("td", { class: "num hide-narrow" }, `${n(p.processed)} · ${n(p.failed)} failed · ${n(p.retried)} retried`),
      el("td", { class: "small" }, p.inFlight.length ? el("ul", { class: "preview" }, p.inFlight.slice(0, 5).map((t) =>
        el("li", null, el("a", { href: "#tasks/" + encodeURIComponent(t.id) }, t.task), ` · ${ago(t.startedAt)}`))) : "idle"),
      el("td", { class: "actions" }, canAct() ? [
        el("button", { type: "button", class: "link", dataset: { action: "ping" }, onclick: (e) => act(e.target, (r) => r.replies.length ? `Pong in ${r.replies[0].elapsed}` : "No answer.", "workers/ping", { id: p.id }) }, "Ping"),
        p.concurrency > 0 ? el("input", { type: "number", min: 1, max: 10000, value: p.concurrency, style: "width:70px", "aria-label": "concurrency", onchange: (e) =>
          act(e.target, (r) => r.replies.length ? r.replies[0].message : "No answer.", "workers/concurrency", { id: p.id, concurrency: Number(e.target.value) }) }) : null,
        confirmButton("Stop", "Stop it?", (b) => act(b, (r) => r.replies.length ? r.replies[0].message : "No answer in time.", "workers/stop", { id: p.id }), { dataset: { action: "stop" } }),
      ] : null)));
    $("page-workers").replaceChildren(card("Processes", `live · ${s.processes.length} with a heartbeat`, el("div", { class: "scroll" }, el("table", { id: "workers" },
      el("thead", null, el("tr", null, el("th", null, "Process"), el("th", null, "Status"), el("th", null, "Queues"), el("th", { class: "num" }, "Running"), el("th", { class: "num hide-narrow" }, "Settled"), el("th", null, "In flight"), el("th"))),
      el("tbody", null, rows.length ? rows : [empty(7, "No live process.")])))));
  }

  function renderChannels() {
    const s = state.snapshot;
    if (!s) return;
    const cluster = {};
    for (const p of s.processes || []) for (const [g, c] of Object.entries(p.groups || {})) cluster[g] = (cluster[g] || 0) + c;
    const names = [...new Set([...Object.keys(s.groups), ...Object.keys(cluster)])].sort();
    const max = Math.max(1, ...names.map((g) => Math.max(s.groups[g] || 0, cluster[g] || 0)));
    const rows = names.map((g) => el("tr", { dataset: { group: g } }, el("td", { class: "name mono" }, g),
      el("td", { class: "num" }, n(s.groups[g] || 0)), el("td", { class: "num" }, s.processes ? n(cluster[g] || 0) : "–"),
      el("td", { style: "width:40%" }, el("div", { class: "bar" }, el("span", { class: "ready", style: `width:${(100 * Math.max(s.groups[g] || 0, cluster[g] || 0)) / max}%` })))));
    $("page-channels").replaceChildren(card("WebSocket groups", "live · members here and in every process's heartbeat", el("table", { id: "channels" },
      el("thead", null, el("tr", null, el("th", null, "Group"), el("th", { class: "num" }, "This process"), el("th", { class: "num" }, "All processes"), el("th"))),
      el("tbody", null, rows.length ? rows : [empty(4, "No groups with members.")]))));
  }

  // --- tasks ---

  const taskFilter = { task: "", state: "" };
  async function renderTasks(id) {
    const page = $("page-tasks");
    if (!state.info.features.history) { page.replaceChildren(unavailable("Task history")); if (!id) return; }
    if (id) return renderStory(id);
    const form = el("form", { class: "filters", id: "task-filter", onsubmit: (e) => { e.preventDefault(); taskFilter.task = e.target.task.value; taskFilter.state = e.target.state.value; renderTasks(); } },
      el("label", null, "Task name", el("input", { name: "task", value: taskFilter.task, maxlength: 200 })),
      el("label", null, "State", el("select", { name: "state" }, ["", "PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "EXPIRED", "REVOKED"].map((v) => el("option", { value: v, selected: v === taskFilter.state }, v || "any")))),
      el("button", { type: "submit", class: "primary" }, "Search"),
      el("label", null, "Task id", el("input", { name: "id", placeholder: "look up by id", onchange: (e) => { if (e.target.value.trim()) location.hash = "#tasks/" + encodeURIComponent(e.target.value.trim()); } })));
    const body = el("tbody", null, empty(5, "Loading…"));
    page.replaceChildren(card("Recent tasks", "newest first · from the store's bounded journal", form, el("div", { class: "scroll" }, el("table", { id: "tasks" },
      el("thead", null, el("tr", null, el("th", null, "Task"), el("th", null, "State"), el("th", { class: "hide-narrow" }, "Queue"), el("th", null, "Last event"), el("th", { class: "hide-narrow" }, "Error"))), body))));
    try {
      const q = new URLSearchParams({ limit: "200" });
      if (taskFilter.task) q.set("task", taskFilter.task);
      if (taskFilter.state) q.set("state", taskFilter.state);
      const { tasks } = await api("GET", "tasks?" + q);
      body.replaceChildren(...(tasks.length ? tasks.map((t) => el("tr", { class: "clickable", dataset: { id: t.taskId }, onclick: () => { location.hash = "#tasks/" + encodeURIComponent(t.taskId); } },
        el("td", null, el("div", { class: "name" }, t.task), el("div", { class: "mono muted small" }, t.taskId)),
        el("td", null, el("span", { class: "pill " + t.state }, t.state)), el("td", { class: "hide-narrow" }, t.queue || "–"),
        el("td", { class: "small" }, `${t.kind} · ${ago(t.at)}`), el("td", { class: "small error-text hide-narrow" }, t.error || ""))) : [empty(5, "No recent tasks match.")]));
    } catch (e) { body.replaceChildren(empty(5, e.message)); }
  }

  async function renderStory(id) {
    const page = $("page-tasks");
    page.replaceChildren(card("Task", null, el("p", { class: "muted" }, "Loading…")));
    let story;
    try { story = await api("GET", "tasks/" + encodeURIComponent(id)); } catch (e) {
      page.replaceChildren(card("Task " + id, null, el("p", { class: "unavailable" }, e.message), el("a", { href: "#tasks" }, "← recent tasks")));
      return;
    }
    const r = story.result;
    const name = r?.task || story.story[0]?.task || story.deadLetter?.task || "?";
    const actions = canAct() ? el("div", { class: "filters" },
      story.deadLetter ? el("button", { type: "button", class: "primary", dataset: { action: "retry" }, onclick: (e) => act(e.target, "Requeued.", "tasks/retry", { id }, () => renderStory(id)) }, "Retry (requeue)") : null,
      r && ["SUCCESS", "FAILURE", "REVOKED", "EXPIRED"].includes(r.state) ? null
        : confirmButton("Revoke", "Revoke it?", (b) => act(b, (x) => x.replies.length ? x.replies.map((y) => y.message).join("; ") : "Revoked (no process was running it).", "tasks/revoke", { id }, () => renderStory(id)), { dataset: { action: "revoke" } })) : null;
    const events = story.story.map((e) => el("li", { class: e.kind },
      el("div", null, el("b", null, e.kind), " ", el("span", { class: "pill " + e.state }, e.state), " ", el("span", { class: "mono muted small" }, dateTime(e.at))),
      el("div", { class: "small muted" }, [e.queue && `queue ${e.queue}`, e.process && `in ${e.process}`, e.delivery && `delivery ${e.delivery}`, e.retries ? `retries ${e.retries}` : null, e.detail].filter(Boolean).join(" · ")),
      e.error ? el("div", { class: "small error-text" }, e.error) : null));
    page.replaceChildren(
      el("div", null, el("a", { href: "#tasks" }, "← recent tasks")),
      card(name, id, el("dl", { class: "facts", id: "task-facts" },
        el("dt", null, "State"), el("dd", null, el("span", { class: "pill " + (r?.state || "PENDING") }, r?.state || "PENDING")),
        el("dt", null, "Retries"), el("dd", null, String(r?.retries ?? 0)),
        el("dt", null, "Updated"), el("dd", null, dateTime(r?.updatedAt)),
        r?.result != null ? [el("dt", null, "Result"), el("dd", null, el("pre", null, r.result))] : null,
        r?.error ? [el("dt", null, "Error"), el("dd", null, el("div", { class: "error-text" }, `${r.error.type}: ${r.error.message}`), r.error.stackTrace ? el("pre", null, r.error.stackTrace) : null)] : null),
        actions),
      story.deadLetter ? deadLetterCard(story.deadLetter) : null,
      card("Story", "oldest first", events.length ? el("ol", { class: "timeline", id: "story" }, events) : el("p", { class: "muted" }, "No journal entries (expired or never recorded).")));
  }

  // --- dead letters ---

  const deadFilter = { queue: "", task: "", reason: "", text: "" };
  function deadLetterCard(d) {
    return card("Dead letter", `${d.reason} · ${dateTime(d.failedAt)}`, el("dl", { class: "facts" },
      el("dt", null, "Queue"), el("dd", null, d.queue), el("dt", null, "Deliveries"), el("dd", null, `${d.deliveryCount} · ${d.retries} retries`),
      el("dt", null, "Error"), el("dd", { class: "error-text" }, `${d.errorType || d.reason}: ${d.errorMessage}`),
      el("dt", null, "Args"), el("dd", null, el("pre", null, d.args || "[]")), el("dt", null, "Kwargs"), el("dd", null, el("pre", null, d.kwargs || "{}")),
      d.stackTrace ? [el("dt", null, "Stack"), el("dd", null, el("pre", null, d.stackTrace))] : null));
  }

  async function renderDeadLetters() {
    const page = $("page-dead-letters");
    if (!state.info.features.deadLetters) { page.replaceChildren(unavailable("Dead-letter repair")); return; }
    const filterBody = () => ({ filter: Object.fromEntries(Object.entries(deadFilter).filter(([, v]) => v)) });
    const hasFilter = () => Object.values(deadFilter).some(Boolean);
    const form = el("form", { class: "filters", id: "dead-filter", onsubmit: (e) => { e.preventDefault(); for (const k of Object.keys(deadFilter)) deadFilter[k] = e.target[k].value.trim(); state.selected.clear(); renderDeadLetters(); } },
      ...["queue", "task", "reason", "text"].map((k) => el("label", null, k === "text" ? "Text in error" : k[0].toUpperCase() + k.slice(1), el("input", { name: k, value: deadFilter[k], maxlength: 200 }))),
      el("button", { type: "submit", class: "primary" }, "Filter"));
    const body = el("tbody", null, empty(6, "Loading…"));
    const detail = el("div", { id: "dead-detail" });
    const refresh = () => renderDeadLetters();
    const bulk = canAct() ? el("div", { class: "filters" },
      el("button", { type: "button", id: "requeue-selected", onclick: (e) => state.selected.size ? act(e.target, (r) => `Requeued ${r.count}.`, "dead-letters/requeue", { ids: [...state.selected] }, () => { state.selected.clear(); return refresh(); }) : toast("Select dead letters first.", true) }, "Requeue selected"),
      confirmButton("Requeue all shown by the filter", "Requeue every match?", (b) => act(b, (r) => `Requeued ${r.count}.`, "dead-letters/requeue", hasFilter() ? filterBody() : { all: true }, refresh), { id: "requeue-filtered" }),
      confirmButton("Delete selected", "Delete them for good?", (b) => state.selected.size ? act(b, (r) => `Deleted ${r.count}.`, "dead-letters/delete", { ids: [...state.selected] }, () => { state.selected.clear(); return refresh(); }) : toast("Select dead letters first.", true), { id: "delete-selected" }),
      confirmButton("Delete all shown by the filter", "Delete every match for good?", (b) => act(b, (r) => `Deleted ${r.count}.`, "dead-letters/delete", hasFilter() ? filterBody() : { all: true }, refresh), { id: "delete-filtered" })) : null;
    page.replaceChildren(card("Dead letters", "tasks that failed for good · newest first", form, bulk, el("div", { class: "scroll" }, el("table", { id: "dead-letters" },
      el("thead", null, el("tr", null, el("th", null, canAct() ? el("input", { type: "checkbox", "aria-label": "select all", onchange: (e) => { for (const box of body.querySelectorAll("input[type=checkbox]")) { box.checked = e.target.checked; box.dispatchEvent(new Event("change")); } } }) : null),
        el("th", null, "Task"), el("th", null, "Reason"), el("th", null, "Error"), el("th", null, "Failed"), el("th"))), body))), detail);
    try {
      const q = new URLSearchParams({ limit: "200" });
      for (const [k, v] of Object.entries(deadFilter)) if (v) q.set(k, v);
      const { deadLetters, truncated } = await api("GET", "dead-letters?" + q);
      body.replaceChildren(...(deadLetters.length ? deadLetters.map((d) => el("tr", { class: "clickable", dataset: { id: d.id }, onclick: (e) => {
        if (e.target.closest("button, input, a")) return;
        for (const row of body.querySelectorAll("tr.selected")) row.classList.remove("selected");
        e.currentTarget.classList.add("selected");
        detail.replaceChildren(deadLetterCard(d));
      } },
        el("td", null, canAct() ? el("input", { type: "checkbox", checked: state.selected.has(d.id), "aria-label": "select", onchange: (e) => { if (e.target.checked) state.selected.add(d.id); else state.selected.delete(d.id); } }) : null),
        el("td", null, el("div", { class: "name" }, d.task), el("div", { class: "mono muted small" }, el("a", { href: "#tasks/" + encodeURIComponent(d.id) }, d.id), ` · ${d.queue}`)),
        el("td", null, el("span", { class: "pill bad" }, d.reason)),
        el("td", { class: "small error-text" }, `${d.errorType || ""}${d.errorType ? ": " : ""}${d.errorMessage}`),
        el("td", { class: "small" }, ago(d.failedAt)),
        el("td", { class: "actions" }, canAct() ? el("button", { type: "button", class: "link", dataset: { action: "requeue" }, onclick: (e) => act(e.target, "Requeued.", "dead-letters/requeue", { ids: [d.id] }, refresh) }, "Requeue") : null)))
        : [empty(6, hasFilter() ? "No dead letters match." : "No dead letters. Everything that failed was retried or fixed.")]));
      if (truncated) body.append(empty(6, "More match: narrow the filter to see them."));
    } catch (e) { body.replaceChildren(empty(6, e.message)); }
  }

  // --- schedules ---

  async function renderSchedules() {
    const page = $("page-schedules");
    if (!state.info.features.schedules) { page.replaceChildren(unavailable("Schedules")); return; }
    const body = el("tbody", null, empty(7, "Loading…"));
    const editor = el("div", { id: "schedule-editor" });
    page.replaceChildren(card("Schedules", "code schedules can be paused; dynamic ones also edited", el("div", { class: "scroll" }, el("table", { id: "schedules" },
      el("thead", null, el("tr", null, el("th", null, "Schedule"), el("th", null, "When"), el("th", null, "State"), el("th", null, "Last tick"), el("th", null, "Next tick"), el("th", { class: "num" }, "Missed"), el("th"))), body)),
      canAct() ? el("div", { class: "filters", style: "margin-top:12px" }, el("button", { type: "button", class: "primary", id: "add-schedule", onclick: () => editSchedule(editor, null) }, "Add a schedule")) : null), editor);
    try {
      const { schedules, beat } = await api("GET", "schedules");
      const [leader, sub] = beatText(beat);
      page.firstChild.querySelector(".hint").textContent = `beat leader: ${leader} (${sub})`;
      const refresh = () => renderSchedules();
      body.replaceChildren(...(schedules.length ? schedules.map((s) => el("tr", { dataset: { name: s.name, paused: String(s.paused) } },
        el("td", null, el("div", { class: "name" }, s.name), el("div", { class: "muted small" }, `${s.task} · ${s.source}${s.queue ? " · " + s.queue : ""}`)),
        el("td", { class: "mono small" }, s.when),
        el("td", null, el("span", { class: "pill " + (s.paused ? "warn" : "good") }, s.paused ? "paused" : "active")),
        el("td", { class: "small" }, s.lastTick ? `${dateTime(s.lastTick)}` : "never"),
        el("td", { class: "small" }, s.nextTick ? dateTime(s.nextTick) : "–"),
        el("td", { class: "num" + (s.missed > 0 ? " error-text" : "") }, n(s.missed)),
        el("td", { class: "actions" }, canAct() ? [
          el("button", { type: "button", class: "link", dataset: { action: s.paused ? "resume" : "pause" }, onclick: (e) => act(e.target, s.paused ? "Resumed." : "Paused.", s.paused ? "schedules/resume" : "schedules/pause", { name: s.name }, refresh) }, s.paused ? "Resume" : "Pause"),
          el("button", { type: "button", class: "link", dataset: { action: "run" }, onclick: (e) => act(e.target, (r) => `Sent as ${r.message}.`, "schedules/run", { name: s.name }) }, "Run now"),
          s.source === "dynamic" ? el("button", { type: "button", class: "link", dataset: { action: "edit" }, onclick: () => editSchedule(editor, s) }, "Edit") : null,
          s.source === "dynamic" ? confirmButton("Remove", "Remove it?", (b) => act(b, "Removed.", "schedules/remove", { name: s.name }, refresh), { dataset: { action: "remove" } }) : null,
        ] : null))) : [empty(7, "No schedules.")]));
    } catch (e) { body.replaceChildren(empty(7, e.message)); }
  }

  function editSchedule(box, s) {
    const isNew = !s;
    const kind = el("select", { name: "kind" }, el("option", { value: "cron", selected: !s || !!s.cron }, "cron"), el("option", { value: "every", selected: !!s && !s.cron }, "every (seconds)"));
    const preview = el("ul", { class: "preview", id: "cron-preview" });
    const cron = el("input", { name: "cron", value: s?.cron || "*/5 * * * *", maxlength: 200 });
    const zone = el("input", { name: "timeZone", value: s?.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || "", maxlength: 100, placeholder: "UTC" });
    const every = el("input", { name: "every", type: "number", min: 0.001, step: "any", value: s?.everyMs ? s.everyMs / 1000 : 60 });
    let timer = null;
    async function updatePreview() {
      if (kind.value !== "cron") { preview.replaceChildren(); return; }
      try {
        const q = new URLSearchParams({ cron: cron.value, count: "5" });
        if (zone.value.trim()) q.set("tz", zone.value.trim());
        const p = await api("GET", "schedules/cron?" + q);
        preview.replaceChildren(el("li", null, `Next five in ${p.timeZone}:`), ...p.local.map((t) => el("li", { class: "mono" }, t)));
      } catch (e) { preview.replaceChildren(el("li", { class: "error-text" }, e.message)); }
    }
    const later = () => { clearTimeout(timer); timer = setTimeout(updatePreview, 250); };
    cron.addEventListener("input", later); zone.addEventListener("input", later); kind.addEventListener("change", () => { cronBox.hidden = kind.value !== "cron"; everyBox.hidden = kind.value === "cron"; updatePreview(); });
    const cronBox = el("div", { class: "grid-form wide" }, el("label", null, "Cron (5 or 6 fields)", cron), el("label", null, "Time zone", zone), el("div", { class: "wide" }, preview));
    const everyBox = el("label", null, "Every (seconds)", every);
    cronBox.hidden = kind.value !== "cron"; everyBox.hidden = kind.value === "cron";
    const args = s?.kwargs || s?.args || "";
    const form = el("form", { class: "grid-form", id: "schedule-form", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      let parsed = null;
      if (f.args.value.trim()) { try { parsed = JSON.parse(f.args.value); } catch { toast("Arguments must be JSON: [1, 2] or {\"id\": 7}.", true); return; } }
      const body = { create: isNew, name: f.name.value, task: f.task.value, queue: f.queue.value || null, missedTicks: f.missedTicks.value, args: parsed };
      if (kind.value === "cron") { body.cron = cron.value; body.timeZone = zone.value || null; } else body.every = Number(every.value);
      const done = await act(f.querySelector("button[type=submit]"), isNew ? "Added." : "Saved.", "schedules/save", body);
      if (done) { box.replaceChildren(); renderSchedules(); }
    } },
      el("label", null, "Name", el("input", { name: "name", value: s?.name || "", required: true, maxlength: 200, readonly: !isNew })),
      el("label", null, "Task", el("input", { name: "task", value: s?.task || "", required: true, maxlength: 200 })),
      el("label", null, "Queue", el("input", { name: "queue", value: s?.queue || "", maxlength: 200, placeholder: "the task's queue" })),
      el("label", null, "Missed ticks", el("select", { name: "missedTicks" }, ["skip", "run-once"].map((v) => el("option", { value: v, selected: s?.missedTicks === v }, v)))),
      el("label", null, "Timing", kind), everyBox, cronBox,
      el("label", { class: "wide" }, "Arguments (JSON array or object)", el("textarea", { name: "args", rows: 2, maxlength: 20000 }, args)),
      el("div", { class: "filters wide" }, el("button", { type: "submit", class: "primary" }, isNew ? "Add" : "Save"), el("button", { type: "button", onclick: () => box.replaceChildren() }, "Cancel")));
    box.replaceChildren(card(isNew ? "New schedule" : `Edit ${s.name}`, null, form));
    updatePreview();
    box.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // --- events ---

  let subscriptions = null;
  async function renderEvents(reload) {
    const page = $("page-events");
    if (!state.info.features.events) { page.replaceChildren(unavailable("Durable events")); return; }
    if (reload || !subscriptions) {
      try { subscriptions = (await api("GET", "events")).subscriptions; } catch (e) { page.replaceChildren(card("Durable subscriptions", null, el("p", { class: "unavailable" }, e.message))); return; }
    }
    const queues = Object.fromEntries((state.snapshot?.queues || []).map((q) => [q.queue, q]));
    const rows = subscriptions.map((s) => {
      const q = queues[s.queue];
      return el("tr", { dataset: { subscription: s.name } },
        el("td", null, el("div", { class: "name" }, s.name), el("div", { class: "muted small" }, `since ${dateTime(s.createdAt)}`)),
        el("td", { class: "mono" }, s.pattern), el("td", { class: "mono small hide-narrow" }, s.queue),
        el("td", { class: "num" }, q ? n(q.ready + q.delayed + q.leased) : "0"),
        el("td", { class: "num" + ((q?.oldestReadyAgeSeconds || 0) > 60 ? " error-text" : "") }, age(q?.oldestReadyAgeSeconds)),
        el("td", { class: "num" }, q?.deadLetters ? el("a", { href: "#dead-letters", onclick: () => { deadFilter.queue = s.queue; } }, n(q.deadLetters)) : "0"));
    });
    page.replaceChildren(card("Durable subscriptions", "live depths · each subscription's own queue", el("div", { class: "scroll" }, el("table", { id: "events" },
      el("thead", null, el("tr", null, el("th", null, "Subscription"), el("th", null, "Pattern"), el("th", { class: "hide-narrow" }, "Queue"), el("th", { class: "num" }, "Waiting"), el("th", { class: "num" }, "Oldest"), el("th", { class: "num" }, "Dead"))),
      el("tbody", null, rows.length ? rows : [empty(6, "No durable subscriptions.")])))));
  }

  // --- routing and the socket ---

  const pages = ["overview", "queues", "tasks", "dead-letters", "schedules", "events", "workers", "channels"];
  function route() {
    const [name, ...rest] = (location.hash.slice(1) || "overview").split("/");
    const page = pages.includes(name) ? name : "overview";
    state.page = page;
    document.body.dataset.page = page;
    for (const p of pages) $("page-" + p).hidden = p !== page;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
    document.title = `${pages.includes(name) ? name.replace("-", " ") : "overview"} · ${state.info.title}`;
    const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
    switch (page) {
      case "tasks": renderTasks(arg); break;
      case "dead-letters": renderDeadLetters(); break;
      case "schedules": renderSchedules(); break;
      case "events": renderEvents(true); break;
      default: renderLive();
    }
  }

  function renderLive() {
    switch (state.page) {
      case "overview": renderOverview(); break;
      case "queues": renderQueues(); break;
      case "workers": renderWorkers(); break;
      case "channels": renderChannels(); break;
      case "events": if (subscriptions) renderEvents(false); break;
    }
    const dead = state.snapshot?.deadLetters || 0;
    $("nav-dead").hidden = dead === 0;
    $("nav-dead").textContent = dead > 999 ? "999+" : String(dead);
  }

  function applySnapshot(s) {
    if (!s || (state.snapshot && Date.parse(s.at) < Date.parse(state.snapshot.at))) return;
    const hadErrors = (state.snapshot?.errors || []).length > 0 || (s.errors || []).length > 0;
    state.snapshot = s;
    addRates(s.rates);
    if (hadErrors) renderBanners();
    renderLive();
    window.celeriacDashboard.snapshots++;
  }

  function live(status) {
    $("live").dataset.status = status;
    $("live-text").textContent = status === "open" ? "live" : status;
  }

  async function start() {
    initChrome();
    try {
      state.info = await api("GET", "info");
    } catch (e) {
      $("main").replaceChildren(card("Celeriac", null, el("p", { class: "unavailable" }, e.message)));
      return;
    }
    $("title").textContent = state.info.title;
    renderBanners();
    window.addEventListener("hashchange", route);
    route();
    window.celeriacDashboard.socket = new Celeriac.Socket("ws", {
      onOpen: async () => {
        const [history, snapshot] = await Promise.all([api("GET", "history"), api("GET", "snapshot")]);
        state.series = { x: [], s: [], f: [], r: [] };
        addRates(history);
        state.snapshot = null;
        applySnapshot(snapshot);
      },
      onMessage: (m, meta) => { if (meta && m && m.type === "dashboard.snapshot") applySnapshot(m); },
      onStatus: live,
    });
  }

  window.celeriacDashboard = { state, snapshots: 0, socket: null, api };
  start();
})();
