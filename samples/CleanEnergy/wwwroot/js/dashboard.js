/*
 * The dashboard. Initial state comes over HTTP when the socket opens (celeriac.js onOpen: the devices, the chart's
 * last 10 minutes, the server time, the recent alerts); group messages that arrive meanwhile wait in the client and
 * are applied after it, and every message is checked against what is shown (a reading older than the shown one, a
 * chart point not after the last one, an alert already listed) so the order of the two never matters. On a reconnect
 * onOpen runs again and the page is refreshed from the API.
 *
 * Groups (see Live/LiveUpdates.cs): dashboard { type: "device.state", deviceId, on, powerW, at } and
 * { type: "grid.intensity", value, totalPowerW, at }; time { type: "clock.tick", now }; alerts
 * { type: "alert", id, subject, text, at }.
 */
(function () {
  "use strict";
  const { el, time, getJson } = Energy;

  const threshold = Number(document.body.dataset.threshold) || 200;
  const WINDOW_SECONDS = 10 * 60;
  const MAX_ALERTS = 20;

  const devices = new Map();          // id -> { id, name, location, kind, reachable, on, powerW, at }
  const alerts = [];                  // newest first
  const alertIds = new Set();
  const series = { x: [], grid: [], power: [] };   // unix seconds, gCO2/kWh, kW
  let clockAt = 0;

  // --- the chart (uPlot, bundled in /lib/uplot) ---

  const chartBox = document.getElementById("chart");
  const chart = new uPlot({
    width: Math.max(320, chartBox.clientWidth),
    height: 300,
    padding: [16, 8, 0, 8],
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    scales: {
      x: { time: true },
      g: { range: (u, min, max) => [0, Math.max(threshold * 2, Math.ceil(((max ?? 0) * 1.1) / 50) * 50)] },
      kw: { range: (u, min, max) => [0, Math.max(1, Math.ceil((max ?? 0) * 1.25))] },
    },
    series: [
      { value: (u, v) => (v == null ? "–" : time(v * 1000)) },
      {
        label: "Grid intensity", scale: "g", stroke: "#d97706", width: 2,
        points: { show: false }, value: (u, v) => (v == null ? "–" : `${v.toFixed(0)} gCO2/kWh`),
      },
      {
        label: "Total power", scale: "kw", stroke: "#2563eb", width: 2, points: { show: false },
        value: (u, v) => (v == null ? "–" : `${v.toFixed(2)} kW`),
      },
    ],
    axes: [
      {
        stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" },
        // 24-hour times; seconds only when the ticks are not whole minutes.
        values: (u, splits) => {
          const minutes = splits.every((s) => s % 60 === 0);
          return splits.map((s) => (minutes ? time(s * 1000).slice(0, 5) : time(s * 1000)));
        },
      },
      { scale: "g", stroke: "#b45309", grid: { stroke: "#eef2f7" }, ticks: { show: false }, size: 52, label: "gCO2/kWh", labelSize: 18 },
      { scale: "kw", side: 1, stroke: "#1d4ed8", grid: { show: false }, ticks: { show: false }, size: 48, label: "kW", labelSize: 18 },
    ],
    hooks: {
      drawClear: [(u) => {
        // The clean zone: below the threshold devices are switched on.
        const ctx = u.ctx;
        const top = Math.round(u.valToPos(threshold, "g", true));
        const bottom = u.bbox.top + u.bbox.height;
        ctx.save();
        ctx.fillStyle = "rgba(22, 163, 74, 0.07)";
        ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
        ctx.restore();
      }],
      draw: [(u) => {
        const ctx = u.ctx;
        const y = Math.round(u.valToPos(threshold, "g", true));
        ctx.save();
        ctx.strokeStyle = "#16a34a";
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#15803d";
        ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
        ctx.fillText(`clean below ${threshold}`, u.bbox.left + 8 * devicePixelRatio, y - 6 * devicePixelRatio);
        ctx.restore();
      }],
    },
  }, [[], [], []], chartBox);
  new ResizeObserver(() => chart.setSize({ width: Math.max(320, chartBox.clientWidth), height: 300 })).observe(chartBox);

  function redrawChart() {
    chart.setData([series.x, series.grid, series.power]);
    chartBox.dataset.points = String(series.x.length);
    chartBox.dataset.last = String(series.x.at(-1) ?? "");
  }

  function addPoint(at, value, totalPowerW) {
    const x = Date.parse(at) / 1000;
    if (!Number.isFinite(x) || (series.x.length > 0 && x <= series.x.at(-1))) return false;
    series.x.push(x);
    series.grid.push(value);
    series.power.push(totalPowerW / 1000);
    const from = x - WINDOW_SECONDS;
    while (series.x.length > 0 && series.x[0] < from) {
      series.x.shift(); series.grid.shift(); series.power.shift();
    }
    return true;
  }

  function showGrid(value, totalPowerW) {
    document.getElementById("grid-value").textContent = value.toFixed(0);
    const level = document.getElementById("grid-level");
    const clean = value < threshold;
    level.textContent = clean ? "clean" : "dirty";
    level.className = "pill " + (clean ? "on" : "dirty");
    document.getElementById("stat-grid").dataset.level = clean ? "clean" : "dirty";
    document.getElementById("power-value").textContent = (totalPowerW / 1000).toFixed(2);
  }

  // --- devices ---

  const kinds = { smartPlug: "smart plug", thermostat: "thermostat", evCharger: "EV charger", light: "light" };
  const watts = (w) => (w == null ? "–" : w >= 1000 ? `${(w / 1000).toFixed(2)} kW` : `${w.toFixed(w < 10 ? 1 : 0)} W`);

  function renderDevices() {
    const body = document.querySelector("#devices tbody");
    const rows = [...devices.values()].sort((a, b) => a.id - b.id).map((d) => {
      const state = !d.reachable ? "offline" : d.on === true ? "on" : d.on === false ? "off" : "unknown";
      const label = { on: "On", off: "Off", offline: "Offline", unknown: "–" }[state];
      return el("tr", { dataset: { deviceId: d.id, state } },
        el("td", null,
          el("div", { class: "device-name" }, d.name),
          el("div", { class: "muted small" }, [d.location, kinds[d.kind] || d.kind].filter(Boolean).join(" · "))),
        el("td", null, el("span", { class: `pill ${state}` }, label)),
        el("td", { class: "num" }, watts(d.powerW)),
        el("td", { class: "num mono muted" }, d.at ? time(d.at) : "–"));
    });
    body.replaceChildren(...(rows.length > 0 ? rows : [el("tr", { class: "empty" }, el("td", { colspan: 4 }, "No devices yet: they are imported from the vendor's cloud."))]));
    const on = [...devices.values()].filter((d) => d.reachable && d.on === true).length;
    document.getElementById("devices-on").textContent = String(on);
    document.getElementById("devices-total").textContent = `of ${devices.size}`;
    const offline = [...devices.values()].filter((d) => !d.reachable).length;
    document.getElementById("devices-sub").textContent = offline > 0 ? `${offline} unreachable` : "switched with the grid";
  }

  async function loadDevices() {
    const list = await getJson("/api/devices");
    devices.clear();
    for (const d of list) {
      devices.set(d.id, { id: d.id, name: d.name, location: d.location, kind: d.kind, reachable: d.reachable, on: d.on, powerW: d.powerW, at: d.at });
    }
    renderDevices();
  }

  let reloadingDevices = null;
  function deviceState(m) {
    const d = devices.get(m.deviceId);
    if (!d) {   // a device imported after the page loaded
      reloadingDevices ??= loadDevices().finally(() => { reloadingDevices = null; });
      return;
    }
    if (d.at && Date.parse(m.at) < Date.parse(d.at)) return;   // older than what is shown
    Object.assign(d, { on: m.on, powerW: m.powerW, at: m.at, reachable: true });
    renderDevices();
  }

  // --- clock ---

  function showClock(now) {
    const at = Date.parse(now);
    if (!Number.isFinite(at) || at < clockAt) return;
    clockAt = at;
    const clock = document.getElementById("clock");
    clock.textContent = time(at);
    clock.dataset.now = now;
    document.getElementById("clock-date").textContent = new Date(at).toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" });
  }

  // --- alerts ---

  function addAlert(a) {
    if (!a || !a.id || alertIds.has(a.id)) return;
    alertIds.add(a.id);
    alerts.push(a);
    alerts.sort((x, y) => Date.parse(y.at) - Date.parse(x.at));
    for (const dropped of alerts.splice(MAX_ALERTS)) alertIds.delete(dropped.id);
  }

  function renderAlerts() {
    const list = document.getElementById("alerts");
    if (alerts.length === 0) return;
    list.replaceChildren(...alerts.map((a) => {
      const tone = a.subject.endsWith(".offline") ? "bad" : a.subject.endsWith(".online") ? "good" : "info";
      return el("li", { class: `alert ${tone}`, dataset: { alertId: a.id } },
        el("div", { class: "alert-head" }, el("code", { class: "subject" }, a.subject), el("time", { class: "mono muted", datetime: a.at }, time(a.at))),
        el("div", { class: "alert-text" }, a.text || "(no text)"));
    }));
  }

  // --- the socket ---

  async function loadState() {
    const [history, now, recent] = await Promise.all([
      getJson("/api/grid/history?minutes=10"), getJson("/api/time"), getJson("/api/alerts"), loadDevices(),
    ]);
    series.x.length = series.grid.length = series.power.length = 0;
    for (const p of history.points) addPoint(p.at, p.value, p.totalPowerW);
    redrawChart();
    const last = history.points.at(-1);
    if (last) showGrid(last.value, last.totalPowerW);
    showClock(now.now);
    for (const a of recent) addAlert(a);
    renderAlerts();
  }

  const socket = new Celeriac.Socket("/ws/dashboard", {
    onOpen: () => loadState(),
    onMessage: (m, meta) => {
      if (!meta || !m) return;
      switch (m.type) {
        case "clock.tick": showClock(m.now); break;
        case "device.state": deviceState(m); break;
        case "grid.intensity":
          if (addPoint(m.at, m.value, m.totalPowerW)) { redrawChart(); showGrid(m.value, m.totalPowerW); }
          break;
        case "alert":
          addAlert(m);
          renderAlerts();
          if (m.subject.startsWith("alerts.device.")) loadDevices().catch(() => {});   // reachability changed
          break;
      }
    },
    onStatus: Energy.live,
  });
  window.dashboard = { socket, devices, series, alerts };
})();
