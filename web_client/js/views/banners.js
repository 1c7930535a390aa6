// Banners beyond the page on screen: navigators' alerts for rooms whose moderation panel is not
// open, session reminders, and the notification and unread counts (docs/social.md).
import { h, replace, announce } from "../dom.js";
import { alertLink, alertWords } from "./safety_items.js";
import { showConversationCount } from "./conversations.js";
import { unreadFrame } from "../unread.js";
import { sessionHash } from "./sessions.js";

const alertBox = document.getElementById("alerts");

/** Signing out takes every banner with it: the next person at a shared computer sees none. */
export function clearBanners() {
  alertBox.replaceChildren();
}

/** The banner names the room by its title: the list of rooms is fetched first if this page has
 * not needed it yet (a navigator who opened a room by its link), rather than showing its slug. */
export async function showAlert(app, frame) {
  const what = alertWords(frame);
  const rooms = await app.loadCommunities().catch(() => []);
  const name = (rooms || []).find((c) => c.slug === frame.room);
  if (!app.user) return;
  replace(alertBox, h("div", { class: "notice notice--danger" },
    h("p", {}, h("strong", {}, what), ` in ${name ? name.name : frame.room}.`),
    h("p", { class: "actions" },
      alertLink(frame, () => alertBox.replaceChildren()),
      h("button", { type: "button", class: "button button--quiet button--small", onclick: () => alertBox.replaceChildren() }, "Dismiss"))));
  announce(`${what}.`);
}

/** Notifications and read marks, from this device or the member's others (docs/social.md). */
export function attentionFrame(app, frame) {
  if (frame.type === "unread") {
    if (unreadFrame(app.unread, frame)) {
      showConversationCount(app);
      app.dispatchUnread();
    }
    return;
  }
  if (typeof frame.unread === "number") {
    app.unread.told += 1; // newer than any answer asked for before it (unread.js)
    app.setUnread(frame.unread);
  }
  if (frame.type === "notification") app.refreshUnread(); // the rooms' counts too
  if (app.view && app.view.frame) app.view.frame(frame);
}

/** Sessions: a reminder (the lobby opened, a place freed up, a cancellation) as a calm banner
 * unless the session's own page is on screen; in the session's room, state changes are read out. */
export function sessionFrame(app, frame) {
  if (frame.type === "event_state") {
    if (!frame.changed && app.view && app.view.key === `room:${frame.room}`) {
      announce(`This session is now ${frame.state === "live" ? "live" : frame.state}.`);
    }
    return;
  }
  if (app.view && app.view.key === `session:${frame.event}`) return;
  replace(alertBox, h("div", { class: "notice" },
    h("p", {}, frame.text),
    h("p", { class: "actions" },
      h("a", { href: sessionHash(frame.event), onclick: () => alertBox.replaceChildren() }, "Open the session"),
      h("button", { type: "button", class: "button button--quiet button--small", onclick: () => alertBox.replaceChildren() }, "Dismiss"))));
  announce(frame.text);
}
