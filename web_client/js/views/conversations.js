// Private messages (#/conversations): requests to write to me (with their first message, to
// accept or decline), my conversations with how many new messages each holds, and starting one
// from a profile. A conversation opens in the room view (#/room/dm-ID). The unread count in the
// header and the live updates come from `conversation` frames (docs/protocol.md §4.28).

import { api } from "../api.js";
import { h, replace, uid, announce, focusOn, roleBadge, timeElement } from "../dom.js";
import { roomHash, personHash } from "../router.js";
import { couldNotLoad } from "../retry.js";
import { conversationAnswer, messageFrame } from "../unread.js";

const badge = document.getElementById("conversation-count");

export function isConversationRoom(slug) {
  return /^dm-[0-9a-f]{16}$/.test(slug || "");
}

export function conversationId(slug) {
  return slug.slice(3);
}

/** "maple" / "maple and oak" / "maple, oak and ash": the others in a conversation. */
export function names(people) {
  const handles = people.map((p) => p.handle);
  if (handles.length <= 1) return handles[0] || "nobody";
  return `${handles.slice(0, -1).join(", ")} and ${handles[handles.length - 1]}`;
}

// ------------------------------------------------------------------ the header's count

/** The number of new private messages, beside "Messages" in the menu. */
export function showConversationCount(app) {
  const n = Object.values(app.unread.conversations || {}).reduce((a, b) => a + (Number(b) || 0), 0);
  badge.hidden = !n;
  replace(badge, n ? [String(n > 99 ? "99+" : n), h("span", { class: "visually-hidden" }, n === 1 ? " new private message" : " new private messages")] : []);
}

/** A `conversation` frame, wherever the member is: a new message counts unless that
 * conversation is on screen; anything else (a request, an answer) is read again. */
export function conversationFrame(app, frame) {
  if (frame.event === "message") {
    if (app.view && app.view.key === `room:${frame.room}`) return;
    if (messageFrame(app.unread, frame)) { // not when read on another device already
      showConversationCount(app);
      announce(`New private message from ${frame.from ? frame.from.handle : "someone"}.`);
    }
  } else {
    app.refreshUnread();
    if (frame.event === "accepted" && app.view && app.view.key !== `room:${frame.room}`) {
      announce("A conversation request was accepted.");
    }
  }
  if (app.view && app.view.frame) app.view.frame(frame);
}

// ------------------------------------------------------------------ starting one

/** The profile's "Send a message": start (or find) the conversation and open it. */
export async function startConversation(app, person, status) {
  try {
    const conv = await api.post("/api/conversations", { with: [person.id] });
    app.navigate(roomHash(conv.room));
  } catch (err) {
    let text = "The conversation could not be started. Please try again in a moment.";
    if (err.code === "dm_refused") text = `${person.handle} does not take private messages from you.`;
    if (err.code === "rate_limited") {
      text = "You have asked many people to talk privately in the last hour. "
        + "Please wait a while before asking someone new. People who already said yes are in Messages.";
    }
    status.textContent = text;  // a role="status" line: read out without a second announcement
  }
}

// ------------------------------------------------------------------ the page

function personLink(p) {
  return h("a", { href: personHash(p.id) }, p.handle);
}

function stateLine(c, me) {
  const who = names(c.with);
  if (c.blocked) return "Nobody can write here while one of you blocks the other.";
  if (c.state === "declined") return `${who} did not accept your request. You cannot write here any more.`;
  if (c.state === "request" && c.requested_by === me.id) {
    return `Waiting for ${who} to accept. They see your first message; the others reach them if they accept.`;
  }
  return null;
}

function newBadge(n) {
  if (!n) return null;
  return h("span", { class: "badge badge--new" }, n >= 100 ? "99+" : String(n),
    h("span", { class: "visually-hidden" }, n === 1 ? " new message" : " new messages"));
}

export function showConversations(main, app) {
  document.title = "Messages · Kindred";
  const status = h("p", { role: "status", class: "hint" });
  const requests = h("div");
  const list = h("div", {}, h("p", { class: "loading" }, "Loading your conversations…"));
  const requestsId = uid("requests");
  const listId = uid("conversations");
  main.appendChild(h("div", { class: "conversations" },
    h("h1", {}, "Messages"),
    h("p", {}, "Private conversations: only the people in them can read them. A navigator sees a message only if one of you reports it, or if it says someone may be in danger."),
    h("p", { class: "hint" }, "To write to someone, open their profile (select their name in a room) and choose Send a message. ",
      h("a", { href: "#/account" }, "Choose who may write to you first"), "."),
    status,
    h("section", { class: "panel", "aria-labelledby": requestsId },
      h("h2", { id: requestsId }, "Asking to write to you"), requests),
    h("section", { "aria-labelledby": listId },
      h("h2", { id: listId }, "Your conversations"), list)));

  let mine = [];

  async function answer(c, accept, button) {
    button.disabled = true;
    try {
      await api.post(`/api/conversations/${encodeURIComponent(c.id)}/${accept ? "accept" : "decline"}`);
      const text = accept
        ? `You accepted. Your conversation with ${names(c.with)} is open.`
        : `You declined. ${names(c.with)} cannot write to you there any more, and it is gone from your list.`;
      status.textContent = text;
      announce(text);
      await load();
      await settled();
      if (accept) focusOn(list.querySelector(`a[href="${roomHash(c.room)}"]`) || main.querySelector("h1"));
      else focusOn(main.querySelector("h1"));
    } catch (err) {
      status.textContent = err.code === "invalid_action" ? "This request was answered already." : "That did not work. Please try again in a moment.";
      button.disabled = false;
      await load();
    }
  }

  const firsts = new Map(); // request id -> its first message, asked for once per page

  function firstMessage(c) {
    if (!firsts.has(c.id)) {
      const asked = api.get(`/api/conversations/${encodeURIComponent(c.id)}`).then((one) => one.request);
      asked.then((m) => { if (!m || !m.body) firsts.delete(c.id); }, () => firsts.delete(c.id)); // ask again later
      firsts.set(c.id, asked);
    }
    return firsts.get(c.id);
  }

  function requestItem(c) {
    const quote = h("blockquote", { class: "conversation__first" }, h("p", { class: "loading" }, "Loading the message…"));
    firstMessage(c).then((m) => {
      replace(quote, m && m.body ? h("p", { class: "message__body" }, m.body)
        : h("p", { class: "hint" }, "Their message is on its way. Try again in a moment."));
    }).catch(() => replace(quote, h("p", { class: "hint" }, "Their message could not be loaded.")));
    const from = c.with.find((p) => p.id === c.requested_by) || c.with[0];
    const accept = h("button", { type: "button", class: "button", "aria-label": `Accept: ${from.handle}` }, "Accept");
    const decline = h("button", { type: "button", class: "button button--quiet", "aria-label": `Decline: ${from.handle}` }, "Decline");
    accept.addEventListener("click", () => answer(c, true, accept));
    decline.addEventListener("click", () => answer(c, false, decline));
    return h("li", { class: "conversation conversation--request", "data-id": c.id },
      h("p", {}, personLink(from), " ", roleBadge(from.role), " would like to write to you privately. Their first message:"),
      quote,
      h("p", { class: "hint" }, "If you accept, you can read everything they wrote and answer. If you decline, they cannot write to you there again, and they are not told why."),
      h("p", { class: "actions" }, accept, decline));
  }

  function conversationItem(c) {
    const titleId = uid("conversation");
    const unread = c.unread || 0;
    const note = stateLine(c, app.user);
    return h("li", { class: `conversation${unread ? " conversation--unread" : ""}`, "data-id": c.id },
      h("h3", { id: titleId, class: "conversation__title" },
        h("a", { href: roomHash(c.room) }, c.group ? `Group: ${names(c.with)}` : names(c.with)),
        " ", c.with.length === 1 ? roleBadge(c.with[0].role) : null, newBadge(unread)),
      h("p", { class: "conversation__meta" }, c.last_activity ? ["Last message ", timeElement(c.last_activity)] : "No messages yet"),
      note ? h("p", { class: "hint" }, note) : null);
  }

  /** What has focus in the lists, to give it back after a live re-render: its row and words. */
  function focused() {
    const el = document.activeElement;
    const row = el && el.closest ? el.closest(".conversation[data-id]") : null;
    return row ? { id: row.dataset.id, tag: el.tagName, text: el.textContent } : null;
  }

  function refocus(was) {
    if (!was) return;
    const row = main.querySelector(`.conversation[data-id="${was.id}"]`);
    const same = row && [...row.querySelectorAll(was.tag)].find((el) => el.textContent === was.text);
    if (same) same.focus();
  }

  function render() {
    const was = focused();
    const me = app.user.id;
    const asking = mine.filter((c) => c.state === "request" && c.requested_by !== me);
    const rest = mine.filter((c) => !(c.state === "request" && c.requested_by !== me))
      .map((c) => ({ ...c, unread: app.unread.conversations[c.room] ?? c.unread }));
    replace(requests, asking.length ? h("ul", { class: "conversation-list" }, asking.map(requestItem))
      : h("p", { class: "hint" }, "Nobody is asking just now."));
    replace(list, rest.length ? h("ul", { class: "conversation-list" }, rest.map(conversationItem))
      : h("p", { class: "hint" }, "No conversations yet."));
    refocus(was);
  }

  let loads = 0;
  let loading = Promise.resolve(); // the newest read of the list

  /** Once every read of the list asked for so far has been shown. */
  async function settled() {
    let p;
    do {
      p = loading;
      await p;
    } while (p !== loading);
  }

  function load() {
    loading = read();
    return loading;
  }

  async function read() {
    const mineNow = ++loads;
    try {
      const found = (await api.get("/api/conversations")).conversations;
      if (mineNow !== loads) return; // a later read has been asked for: its answer is newer
      mine = found;
      for (const c of mine) {
        if (c.state !== "request" || c.requested_by === app.user.id) {
          // Not c.unread alone: a frame may have told something newer while this travelled.
          conversationAnswer(app.unread, c.room, c.unread, c.read_mark, c.counted_to);
        }
      }
      showConversationCount(app);
      render();
    } catch (err) {
      couldNotLoad(list, app, "Your conversations", err, load);
    }
  }

  let again = null;
  const onUnread = () => mine.length && render();
  document.addEventListener("kindred:unread", onUnread);
  load();
  return {
    cleanup() {
      clearTimeout(again);
      document.removeEventListener("kindred:unread", onUnread);
    },
    frame(frame) {
      if (frame.type === "conversation" && frame.event === "message") {
        render();
      } else if (frame.type === "conversation" || (frame.type === "notification" && frame.kind === "dm_request")) {
        clearTimeout(again);
        again = setTimeout(load, 200); // several at once: read the list once
      }
    },
  };
}
