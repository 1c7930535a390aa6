// The notification centre (#/notifications): what asks for the member's attention, unread
// first, with mark read and mark all read; and what to be told about (kinds, email digest).

import { api } from "../api.js";
import { h, replace, uid, timeElement, announce } from "../dom.js";
import { roomHash } from "../router.js";
import { sessionHash } from "./sessions.js";
import { couldNotLoad } from "../retry.js";

const KIND_WORDS = {
  mention: "Someone mentions me",
  reply: "Replies to my messages",
  reaction: "Reactions to my messages",
  answered: "Answers to my questions",
  lobby_open: "A session I signed up for is starting",
  cancelled: "A session I signed up for is cancelled",
  place_free: "A place opens for me in a session",
  friend_request: "Friend requests",
  friend_accepted: "Someone accepts my friend request",
  dm_request: "Requests to write to me privately",
};

function link(n) {
  if (n.kind === "friend_request" || n.kind === "friend_accepted") return h("a", { href: "#/friends" }, "Open your friends");
  if (n.kind === "dm_request") return h("a", { href: "#/conversations" }, "Open your messages");
  if (n.room) return h("a", { href: roomHash(n.room) }, "Open the room");
  if (n.event) return h("a", { href: sessionHash(n.event) }, "Open the session");
  return null;
}

export function showNotifications(main, app) {
  document.title = "Notifications · Kindred";
  const status = h("p", { role: "status", class: "hint" });
  const list = h("ul", { class: "notification-list" });
  const more = h("p", {});
  const allButton = h("button", { type: "button", class: "button" }, "Mark all as read");
  const settingsBox = h("div", {}, h("p", { class: "loading" }, "Loading your choices…"));
  const settingsId = uid("settings");
  main.appendChild(h("div", { class: "notifications" },
    h("h1", {}, "Notifications"),
    h("p", {}, "Mentions, replies, reactions, answers and sessions: the newest unread ones come first."),
    h("p", { class: "actions" }, allButton),
    status, list, more,
    h("section", { class: "panel", "aria-labelledby": settingsId },
      h("h2", { id: settingsId }, "What to tell me about"), settingsBox)));

  let offset = 0;
  function item(n) {
    const read = h("button", { type: "button", class: "button button--quiet button--small",
      onclick: async () => {
        try {
          await api.post("/api/notifications/read", { ids: [n.id] });
          n.read = true;
          li.replaceWith(item(n));
          announce("Marked as read.");
        } catch {
          status.textContent = "That could not be saved. Please try again.";
        }
      } }, "Mark as read");
    const li = h("li", { class: `notification${n.read ? "" : " notification--unread"}`, "data-id": n.id },
      h("p", {}, n.read ? null : h("strong", { class: "notification__new" }, "New: "), n.text),
      h("p", { class: "notification__meta" }, timeElement(n.at), " ", link(n), n.read ? null : [" ", read]));
    return li;
  }

  async function load(reset) {
    try {
      if (reset) offset = 0;
      const told = app.unread.told;
      const page = await api.get(`/api/notifications?offset=${offset}&limit=30`);
      if (reset) list.replaceChildren();
      for (const n of page.notifications) list.appendChild(item(n));
      offset = page.next_offset || offset;
      // A frame told a count after this was asked for: that one is the newer (unread.js).
      if (app.unread.told === told) app.setUnread(page.unread);
      const unread = app.unread.notifications;
      status.textContent = unread === 0 ? "You have no unread notifications." : `You have ${unread} unread.`;
      if (!list.childElementCount) list.appendChild(h("li", { class: "notification" }, "Nothing yet. When someone mentions you or replies to you, it shows here."));
      replace(more, page.next_offset ? h("button", { type: "button", class: "button button--quiet", onclick: () => load(false) }, "Show older") : null);
    } catch (err) {
      couldNotLoad(list, app, "Your notifications", err, () => load(true));
    }
  }

  allButton.addEventListener("click", async () => {
    try {
      await api.post("/api/notifications/read", { all: true });
      await load(true);
      announce("All notifications are marked as read.");
    } catch {
      status.textContent = "That could not be saved. Please try again.";
    }
  });

  async function loadSettings() {
    try {
      const s = await api.get("/api/notifications/settings");
      const boxes = s.kinds.filter((k) => KIND_WORDS[k]).map((k) => {
        const id = uid("kind");
        return h("div", { class: "check" },
          h("input", { type: "checkbox", id, name: "kind", value: k, checked: !s.muted.includes(k) }),
          h("label", { for: id }, KIND_WORDS[k]));
      });
      const digestName = uid("digest");
      const digest = [["off", "No emails"], ["daily", "A daily email with how many are waiting (never what anyone wrote)"]].map(([value, label]) => {
        const id = uid("digest");
        return h("div", { class: "check" },
          h("input", { type: "radio", id, name: digestName, value, checked: s.digest === value }),
          h("label", { for: id }, label));
      });
      const saved = h("p", { role: "status", class: "hint" });
      const form = h("form", { onsubmit: async (event) => {
        event.preventDefault();
        const muted = [...form.querySelectorAll("input[name=kind]")].filter((b) => !b.checked).map((b) => b.value);
        const chosen = form.querySelector(`input[name="${digestName}"]:checked`);
        try {
          await api.put("/api/notifications/settings", { muted, digest: chosen ? chosen.value : "off" });
          saved.textContent = "Saved.";
        } catch {
          saved.textContent = "That could not be saved. Please try again.";
        }
      } },
      h("fieldset", {}, h("legend", {}, "Tell me when"), boxes),
      h("fieldset", {}, h("legend", {}, "Email"), digest),
      h("button", { type: "submit", class: "button" }, "Save my choices"), saved);
      replace(settingsBox, form);
    } catch (err) {
      couldNotLoad(settingsBox, app, "Your choices", err, loadSettings);
    }
  }

  load(true);
  loadSettings();
  return {
    frame(frame) {
      if (frame.type === "notification" && frame.id) list.prepend(item(frame));
    },
  };
}
