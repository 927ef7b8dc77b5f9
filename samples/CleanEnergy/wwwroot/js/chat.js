/*
 * A chat room. The socket /ws/chat/{room} first sends { type: "chat.history", messages: [{ offset, message }] } (the
 * room's recent messages), then every { type: "chat.message", userName, name, text, at } sent to the room, each with
 * its group offset: a message at or below the newest offset shown is already on the page and is skipped. The page
 * sends { text } only; the server signs it with the login's name.
 */
(function () {
  "use strict";
  const { el, time } = Energy;

  const room = document.body.dataset.room;
  const me = document.body.dataset.user;
  const list = document.getElementById("messages");
  let shown = 0;   // the newest group offset on the page

  function render(message, offset) {
    if (offset <= shown) return;
    shown = offset;
    list.querySelector(".empty")?.remove();
    const mine = message.userName === me;
    list.append(el("li", { class: mine ? "message mine" : "message", dataset: { offset, user: message.userName } },
      el("div", { class: "message-head" },
        el("span", { class: "sender" }, message.name),
        el("time", { class: "mono muted", datetime: message.at }, time(message.at))),
      el("div", { class: "message-text" }, message.text)));
    list.scrollTop = list.scrollHeight;
  }

  const socket = new Celeriac.Socket(`/ws/chat/${encodeURIComponent(room)}`, {
    onMessage: (m, meta) => {
      if (!m) return;
      if (!meta && m.type === "chat.history") {
        for (const { offset, message } of m.messages) render(message, offset);
      } else if (meta && m.type === "chat.message") {
        render(m, meta.offset);
      } else if (!meta && m.type === "chat.error") {
        list.append(el("li", { class: "message error" }, m.reason));
      }
    },
    onStatus: Energy.live,
  });

  const input = document.getElementById("text");
  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    socket.send({ text });   // queued while reconnecting
    input.value = "";
    input.focus();
  });

  document.getElementById("room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const next = document.getElementById("room-input").value.trim().toLowerCase();
    if (/^[a-z0-9_-]{1,64}$/.test(next)) location.assign(`/chat/${next}`);
  });

  window.chat = { socket, room };
})();
