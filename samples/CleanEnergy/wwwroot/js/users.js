/*
 * User management over /api/users: list, create, edit (user name, display name, email), delete. A change to those
 * fields is published as users.changed by the server (a task), for the replica apps.
 */
(function () {
  "use strict";
  const { el, dateTime, getJson, send } = Energy;

  const me = document.body.dataset.user;
  const body = document.querySelector("#users tbody");
  const error = document.getElementById("users-error");
  let users = [];
  let editing = null;   // the id of the row being edited

  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  async function run(action) {
    showError("");
    try {
      await action();
      await load();
      return true;
    } catch (e) {
      showError(e.message);
      return false;
    }
  }

  function row(u) {
    if (u.id === editing) return editRow(u);
    let armed = false;
    const remove = el("button", { class: "danger-link", type: "button", dataset: { action: "delete" } }, "Delete");
    remove.addEventListener("click", () => {
      if (!armed) {   // two clicks: no native confirm() dialog
        armed = true;
        remove.textContent = "Confirm delete";
        remove.classList.add("armed");
        setTimeout(() => { armed = false; remove.textContent = "Delete"; remove.classList.remove("armed"); }, 4000);
        return;
      }
      run(() => send("DELETE", `/api/users/${u.id}`));
    });
    return el("tr", { dataset: { userId: u.id, userName: u.userName } },
      el("td", null, el("strong", null, u.userName), u.userName === me ? el("span", { class: "pill you" }, "you") : null),
      el("td", { class: "display-name" }, u.displayName),
      el("td", { class: "muted" }, u.email || "–"),
      el("td", { class: "mono muted" }, dateTime(u.lastLoginAt)),
      el("td", { class: "num mono" }, String(u.version)),
      el("td", { class: "actions" },
        el("button", { class: "link", type: "button", dataset: { action: "edit" }, onclick: () => { editing = u.id; render(); } }, "Edit"),
        remove));
  }

  function editRow(u) {
    const userName = el("input", { name: "userName", value: u.userName, required: true, maxlength: 100 });
    const displayName = el("input", { name: "displayName", value: u.displayName, required: true, maxlength: 200 });
    const email = el("input", { name: "email", type: "email", value: u.email, maxlength: 200 });
    const save = async () => {
      if (await run(() => send("PUT", `/api/users/${u.id}`, { userName: userName.value, displayName: displayName.value, email: email.value }))) {
        editing = null;
        render();
      }
    };
    for (const input of [userName, displayName, email]) input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
    return el("tr", { class: "editing", dataset: { userId: u.id, userName: u.userName } },
      el("td", null, userName), el("td", null, displayName), el("td", null, email),
      el("td", { class: "mono muted" }, dateTime(u.lastLoginAt)),
      el("td", { class: "num mono" }, String(u.version)),
      el("td", { class: "actions" },
        el("button", { class: "primary small", type: "button", dataset: { action: "save" }, onclick: save }, "Save"),
        el("button", { class: "link", type: "button", onclick: () => { editing = null; render(); } }, "Cancel")));
  }

  function render() {
    body.replaceChildren(...(users.length > 0 ? users.map(row) : [el("tr", { class: "empty" }, el("td", { colspan: 6 }, "No users."))]));
  }

  async function load() {
    users = await getJson("/api/users");
    if (!users.some((u) => u.id === editing)) editing = null;
    render();
  }

  const form = document.getElementById("create-user");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (await run(() => send("POST", "/api/users", data))) form.reset();
  });

  load().catch((e) => showError(e.message));
  window.usersPage = { load };
})();
