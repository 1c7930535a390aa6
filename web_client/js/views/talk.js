// A private talk with the navigator on duty, the member's side (docs/social.md): the "Talk
// privately with a navigator" action of a room, the place in line while it waits (read out
// politely when it changes), the crisis numbers once the wait is long, and the way into the
// private conversation once a navigator takes it. A member has one request at a time, so its
// state lives here for the whole page; each room shows it through a panel.

import { api } from "../api.js";
import { isConversationRoom } from "./conversations.js";
import { h, replace, uid, announce, focusOn, roleBadge } from "../dom.js";
import { newCid } from "../socket.js";
import { resourceItems } from "./notices.js";

const FINAL = new Set(["accepted", "cancelled", "expired"]);

function minutes(s) {
  const m = Math.max(1, Math.round(s / 60));
  return m === 1 ? "a minute" : `${m} minutes`;
}

function placeText(place) {
  if (!place || place === 1) return "You are next in line.";
  return `You are number ${place} in line.`;
}

export class MemberTalk {
  constructor(app) {
    this.app = app;
    this.current = null;     // the latest `talk` frame of the member's request
    this.card = null;        // the crisis resources, once shown for it
    this.ended = new Set();  // requests that ended: later frames about them are stale
    this.waitS = 300;
    this.pending = null;     // {cid, panel} of a request or withdrawal on its way
    this.panels = new Set();
    this.opened = new Set(); // conversations this page already went to
  }

  /** Read the member's request and the wait: once per page and after every reconnect (frames
   * keep them current in between). A request the server no longer has (the embedded server
   * restarted) is not shown as waiting for ever. */
  async load() {
    try {
      const data = await api.get("/api/talks");
      this.waitS = data.wait_s || this.waitS;
      if (data.mine && !this.ended.has(data.mine.id)) {
        this.talk(data.mine);
      } else if (!data.mine && this.current && this.current.state === "waiting") {
        this.talk({ ...this.current, state: "expired", lost: true });
      }
    } catch {
      // The `talk` frame on connecting says the same; nothing to tell the member.
    }
  }

  /** Frames for the member: their request (`talk`), its card, errors of their own asking. */
  frame(frame) {
    if (frame.type === "talk") {
      this.talk(frame);
      return true;
    }
    if (frame.type === "resources" && frame.talk) {
      if (this.current && this.current.id === frame.talk && !this.ended.has(frame.talk)) {
        this.card = frame;
        this.render();
        announce("While you wait: people you can call right now are listed on this page.");
      }
      return true;
    }
    if (frame.type === "error" && this.pending && frame.cid === this.pending.cid) {
      const panel = this.pending.panel;
      this.pending = null;
      panel.say(errorText(frame));
      if (frame.code === "talk_pending") this.load();
      return true;
    }
    return false;
  }

  talk(frame) {
    if (this.ended.has(frame.id)) return; // an older reading of a request that has ended
    if (this.pending && frame.cid === this.pending.cid) this.pending = null;
    const before = this.current && this.current.id === frame.id ? this.current : null;
    if (!before) this.card = frame.resources ? { ...frame.resources, talk: frame.id } : null;
    else if (frame.resources && !this.card) this.card = { ...frame.resources, talk: frame.id };
    this.current = frame;
    if (FINAL.has(frame.state)) this.ended.add(frame.id);
    this.render();
    this.tell(before, frame);
  }

  /** Read out what changed, once, calmly. */
  tell(before, frame) {
    if (frame.state === "waiting") {
      if (!before) announce(`You asked to talk privately with a navigator. ${placeText(frame.place)}`);
      else if (before.place !== frame.place && frame.place) announce(placeText(frame.place));
      return;
    }
    if (before && before.state === frame.state) return;
    if (frame.state === "accepted") {
      const who = frame.navigator ? frame.navigator.handle : "A navigator";
      announce(`${who}, a navigator, is ready to talk with you privately. Opening your conversation.`);
      this.open(frame);
    } else if (frame.state === "expired") {
      announce(frame.lost ? "Your request is no longer waiting: Kindred restarted. Please ask again." : "No navigator was free this time. You can ask again.");
    } else if (frame.state === "cancelled") {
      announce("You stopped waiting for a navigator.");
    }
  }

  open(frame) {
    if (!frame.conversation_room || this.opened.has(frame.id)) return;
    this.opened.add(frame.id);
    this.app.navigate(conversationHash(frame));
  }

  ask(panel) {
    const cid = newCid();
    this.pending = { cid, panel };
    if (!this.app.conn.send({ type: "talk_request", room: panel.slug, cid })) {
      this.pending = null;
      panel.say("You are not connected right now. Please try again in a moment.");
    }
  }

  stop(panel) {
    if (!this.current) return;
    const cid = newCid();
    this.pending = { cid, panel };
    if (!this.app.conn.send({ type: "talk_cancel", id: this.current.id, cid })) {
      this.pending = null;
      panel.say("You are not connected right now. Please try again in a moment.");
    }
  }

  /** A room's panel: the action in its header, what happens below it. */
  panel(slug, isStaff) {
    const panel = new TalkPanel(this, slug, isStaff);
    this.panels.add(panel);
    panel.render();
    return panel;
  }

  render() {
    for (const panel of this.panels) panel.render();
  }

  reset() {
    this.current = null;
    this.card = null;
    this.pending = null;
    this.render();
  }
}

/** Where the private conversation opens (its room). */
export function conversationHash(frame) {
  return `#/room/${encodeURIComponent(frame.conversation_room)}`;
}

function errorText(frame) {
  switch (frame.code) {
    case "talk_pending": return "You have already asked. A navigator will be with you as soon as one is free.";
    case "not_joined": return "This room is still connecting. Please try again in a moment.";
    case "staff_of_room": return "You are one of this room's navigators: members ask you.";
    case "rate_limited": return "You have asked several times in a short while. Please wait a few minutes, or use the numbers for help right now.";
    case "no_such_talk": return "Your request is no longer waiting.";
    case "unavailable": return "Kindred is busy right now. Please try again in a moment.";
    default: return frame.detail || "That did not work. Please try again.";
  }
}

class TalkPanel {
  constructor(talk, slug, isStaff) {
    this.talk = talk;
    this.slug = slug;
    this.isStaff = isStaff;
    this.status = h("p", { class: "hint", role: "status" });
    this.button = h("button", { type: "button", class: "button button--quiet talk-button", onclick: () => this.talk.ask(this) },
      "Talk privately with a navigator");
    this.box = h("div", { class: "talk-box" });
    this.action = h("div", { class: "talk-action" }, this.button, this.status);
  }

  say(text) {
    this.status.textContent = text;
  }

  close() {
    this.talk.panels.delete(this);
  }

  render() {
    const t = this.talk.current;
    const waiting = t && t.state === "waiting";
    // Re-rendering must not drop the keyboard focus: it goes back where it was, or to what
    // replaced the control that had it.
    const active = document.activeElement;
    const had = active && (this.action.contains(active) || this.box.contains(active)) ? active.textContent : null;
    // Never from a private conversation: it has no navigators of its own.
    this.button.hidden = waiting || this.isStaff() || isConversationRoom(this.slug);
    if (waiting) this.status.textContent = "";
    this.fill(t, waiting);
    if (had === null) return;
    const again = [...this.box.querySelectorAll("button, a")].find((el) => el.textContent === had);
    if (again) focusOn(again);
    else if (waiting || (t && t.state === "accepted")) focusOn(this.box.querySelector("h2, a"));
    else if (!this.button.hidden) focusOn(this.button);
  }

  fill(t, waiting) {
    if (!t) {
      this.box.replaceChildren();
      return;
    }
    if (waiting) {
      replace(this.box, this.waitingBox(t));
    } else if (t.state === "accepted") {
      replace(this.box, h("div", { class: "notice" },
        h("p", {}, h("strong", {}, t.navigator ? t.navigator.handle : "A navigator"), " ",
          t.navigator ? roleBadge(t.navigator.role) : null, " is ready to talk with you privately."),
        t.conversation_room && t.conversation_room !== this.slug
          ? h("p", {}, h("a", { href: conversationHash(t) }, "Open your private conversation")) : null));
    } else if (t.state === "expired") {
      replace(this.box, h("p", { class: "notice" }, t.lost
        ? "Your request is no longer waiting: Kindred restarted. Please ask again."
        : "No navigator was free this time. You can ask again whenever you like."));
    } else {
      this.box.replaceChildren();
    }
  }

  waitingBox(t) {
    const id = uid("talk");
    const card = this.talk.card;
    return h("section", { class: "panel talk-waiting", "aria-labelledby": id },
      h("h2", { id, tabindex: "-1" }, "Waiting for a navigator"),
      h("p", {}, h("strong", {}, placeText(t.place))),
      h("p", {}, "A navigator will open a private conversation with you as soon as one is free. You can keep reading and writing while you wait."),
      card ? this.cardBox(card) : h("p", { class: "hint" }, `If nobody is free within ${minutes(this.talk.waitS)}, we will show you people you can call right away.`),
      h("p", { class: "actions" },
        h("button", { type: "button", class: "button button--quiet button--small", onclick: () => this.talk.stop(this) }, "Stop waiting")));
  }

  cardBox(card) {
    const id = uid("resources");
    return h("section", { class: "card-resources talk-resources", "aria-labelledby": id },
      h("h3", { id }, "While you wait"),
      h("p", {}, card.text || "These people can help at any hour."),
      // Only what is known (protocol §4.17): never a navigator promised who may not be there.
      h("p", {}, card.alerted === true
        ? "The navigators on duty can see that you asked. You do not have to wait for them: the people below can help now."
        : card.alerted === false
          ? "No navigator is on duty right now. Please do not wait: the people below can help you now, at any hour."
          : "You do not have to wait: the people below can help you now, at any hour."),
      resourceItems(card.items),
      h("p", {}, "If you are in danger right now, call your local emergency number."));
  }
}
