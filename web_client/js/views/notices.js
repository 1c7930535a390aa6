// What a member is told about the room and about themselves: read-only, slow mode, the pinned
// message, a navigator on duty; muted, asked to leave, banned; and the crisis resource card.

import { h, replace, roleBadge, uid, announce, focusOn } from "../dom.js";

const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayClock = new Intl.DateTimeFormat(undefined, { weekday: "long", hour: "numeric", minute: "2-digit" });

export function untilText(until) {
  if (until === null || until === undefined) return "until a navigator lifts it";
  const when = new Date(until);
  const today = when.toDateString() === new Date().toDateString();
  return `until ${(today ? clock : dayClock).format(when)}`;
}

function seconds(s) {
  if (s < 60) return s === 1 ? "1 second" : `${s} seconds`;
  const m = Math.round(s / 60);
  return m === 1 ? "1 minute" : `${m} minutes`;
}

export class Notices {
  constructor() {
    this.state = { slow_mode_s: 0, locked: false, pinned: null, on_duty: false };
    this.mine = null; // {kind: muted|kicked|banned, until, reason}
    this.roomBox = h("div", { class: "room__state" });
    this.personalBox = h("div", { class: "room__state", role: "status" });
    this.resourcesBox = h("div");
  }

  roomState(frame) {
    this.state = {
      slow_mode_s: Number(frame.slow_mode_s) || 0,
      locked: !!frame.locked,
      pinned: frame.pinned || null,
      on_duty: !!frame.on_duty,
    };
    const s = this.state;
    const parts = [];
    if (s.pinned && s.pinned.body) {
      const id = uid("pinned");
      parts.push(h("section", { class: "notice", "aria-labelledby": id },
        h("h2", { id, class: "label" }, "Pinned"),
        h("p", { class: "message__body" }, s.pinned.body),
        s.pinned.author ? h("p", { class: "hint" }, "Pinned message from ", s.pinned.author.handle, " ", roleBadge(s.pinned.author.role)) : null));
    }
    if (s.locked) parts.push(h("p", { class: "notice notice--warn" }, "This room is read-only for now. Navigators can still post, and you can still read."));
    if (s.slow_mode_s > 0) parts.push(h("p", { class: "notice" }, `Slow mode is on: everyone can post once every ${seconds(s.slow_mode_s)}.`));
    if (s.on_duty) parts.push(h("p", { class: "notice" }, "A navigator is on duty in this room now."));
    replace(this.roomBox, parts);
  }

  /** muted, kicked or banned (a frame or an error with until/reason). */
  restricted(kind, until, reason) {
    this.mine = { kind, until, reason };
    let text;
    if (kind === "muted") text = `A navigator has muted you in this room ${untilText(until)}. You can still read the room.`;
    else if (kind === "kicked") text = `A navigator has asked you to step out of this room ${untilText(until)}. You can come back after that, and other rooms are open to you.`;
    else text = until ? `You have been removed from this room ${untilText(until)}.` : "You have been removed from this room.";
    replace(this.personalBox, h("div", { class: "notice notice--warn" },
      h("p", {}, h("strong", {}, text)),
      reason ? h("p", {}, "The reason given: ", h("q", {}, reason)) : null,
      kind !== "muted" ? h("p", {}, h("a", { href: "#/rooms" }, "Go to the list of rooms")) : null));
  }

  /** The reason shown earlier for this kind of restriction, if the page still has it. */
  reasonFor(kind) {
    return this.mine && this.mine.kind === kind ? this.mine.reason : null;
  }

  unmuted() {
    this.mine = null;
    replace(this.personalBox, h("p", { class: "notice" }, "You can post in this room again."));
  }

  /** The reason the composer is closed, or null. */
  blockedReason(isStaff) {
    if (this.mine && this.mine.kind === "muted") return `You are muted ${untilText(this.mine.until)}.`;
    if (this.mine) return "You cannot post in this room now.";
    if (this.state.locked && !isStaff) return "This room is read-only for now.";
    return null;
  }

  /** The crisis resource card, shown to the author of a message that matched (§4.17). */
  resources(frame) {
    const card = resourceCard(frame, "message", () => this.resourcesBox.replaceChildren());
    replace(this.resourcesBox, card);
    announce("You are not alone. Help is listed on this page.");
    focusOn(card.querySelector("h2"));
  }
}

/** The crisis resource card for the author of a ``what`` ("message" or "question") that
 * matched the crisis list; ``onClose`` takes it away. */
export function resourceCard(frame, what, onClose) {
  const id = uid("resources");
  const items = Array.isArray(frame.items) ? frame.items : [];
  const close = h("button", { type: "button", class: "button button--quiet", onclick: onClose }, "Close");
  // Only what actually happened (protocol §4.17): a person in crisis is never promised
  // a navigator who is not there.
  const who = frame.alerted === true
    ? h("p", { class: "card-resources__who" }, h("strong", {}, `A navigator on duty has been told about your ${what}`), what === "message" ? " and may write to you here." : ".", " You do not have to wait for them: the people below can help now.")
    : h("p", { class: "card-resources__who" }, h("strong", {}, "No navigator is on duty right now."), ` The navigators will see your ${what} when they are back. Please do not wait for them: the people below can help you now, at any hour.`);
  return h("section", { class: "panel card-resources", "aria-labelledby": id },
    h("h2", { id, tabindex: "-1" }, "You are not alone"),
    h("p", {}, frame.text || "It sounds like things are very hard right now. These people can help at any hour."),
    who,
    resourceItems(items),
    h("p", {}, "If you are in danger right now, call your local emergency number."),
    close);
}

/** The list of a crisis resource card: name, contact, hours, website (a new tab). */
export function resourceItems(items) {
  if (!Array.isArray(items) || !items.length) return null;
  return h("ul", {}, items.map((item) => h("li", {},
    h("strong", {}, item.name || ""),
    item.contact ? [": ", item.contact] : null,
    item.hours ? [" (", item.hours, ")"] : null,
    item.url && /^https?:\/\//i.test(item.url)
      ? [" ", h("a", { href: item.url, rel: "noopener noreferrer", target: "_blank" }, "website", h("span", { class: "visually-hidden" }, ` of ${item.name || "this service"} (opens in a new tab)`))]
      : null)));
}
