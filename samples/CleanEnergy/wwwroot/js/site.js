/*
 * Shared by the pages: the live-connection indicator, JSON fetches that carry the antiforgery token and send you to
 * the login page when the session is gone, and small formatting and DOM helpers. Plain browser JavaScript, no build step.
 */
(function (global) {
  "use strict";

  const loginUrl = () => "/login?ReturnUrl=" + encodeURIComponent(location.pathname + location.search);

  // Every change (POST, PUT, DELETE) carries the page's antiforgery token in this header (AntiforgeryCheck.cs); the
  // token is the one in the page's log-out form.
  const tokenHeader = "X-CSRF-TOKEN";
  const token = () => document.querySelector("#logout-form input[name='__RequestVerificationToken']")?.value || "";

  async function request(method, url, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") init.headers[tokenHeader] = token();
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      location.assign(loginUrl());
      throw new Error("not logged in");
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error((data && data.error) || `${method} ${url}: ${response.status}`);
    return data;
  }

  // The indicator in the top bar. celeriac.js reconnects by itself; a refused upgrade (401 after the session ended)
  // looks like any outage to a browser, so after a few failed tries ask the API whether we are still logged in.
  function live(status, info) {
    const box = document.getElementById("live");
    const text = document.getElementById("live-text");
    if (!box || !text) return;
    box.dataset.status = status;
    text.textContent = status === "open" ? "live" : status;
    if (status === "reconnecting" && info && info.attempt >= 3) request("GET", "/api/me").catch(() => {});
  }

  const pad = (n) => String(n).padStart(2, "0");
  const toDate = (value) => (value instanceof Date ? value : new Date(value));

  function time(value) {
    const d = toDate(value);
    return Number.isNaN(d.getTime()) ? "–" : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function dateTime(value) {
    if (!value) return "never";
    const d = toDate(value);
    return Number.isNaN(d.getTime()) ? "–" : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time(d)}`;
  }

  // el("td", { class: "num", dataset: { id: 3 } }, "text", childNode)
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  global.Energy = { getJson: (url) => request("GET", url), send: request, live, time, dateTime, el };
})(globalThis);
