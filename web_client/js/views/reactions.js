// Supportive reactions under a message: one toggle button per reaction of the fixed set
// (GET /api/reactions), with its count; pressed when the member has put it. Updated in place
// from `reactions` frames (the highest version wins), so keyboard focus stays where it is.

import { api } from "../api.js";
import { h } from "../dom.js";

let setPromise = null;
let reactionSet = [];

/** The set of reactions, loaded once per page. */
export function loadReactionSet() {
  if (!setPromise) {
    setPromise = api.get("/api/reactions").then((data) => { reactionSet = data.reactions; return reactionSet; })
      .catch((err) => { setPromise = null; throw err; });
  }
  return setPromise;
}

function describe(kind, entry, mine) {
  const count = entry ? entry.count : 0;
  let text = `${kind.label}: ${count === 1 ? "1 person" : `${count} people`}`;
  if (mine) text += ", including you";
  return text;
}

function paint(bar, msg, me) {
  const reactions = msg.reactions || {};
  for (const button of bar.querySelectorAll("button[data-reaction]")) {
    const kind = reactionSet.find((k) => k.name === button.dataset.reaction);
    const entry = reactions[button.dataset.reaction];
    const mine = !!(entry && me && entry.by.includes(me.handle));
    button.setAttribute("aria-pressed", mine ? "true" : "false");
    button.setAttribute("aria-label", describe(kind, entry, mine));
    button.title = entry && entry.by.length ? `${kind.label}: ${entry.by.join(", ")}` : kind.label;
    button.querySelector(".reaction__count").textContent = entry ? String(entry.count) : "";
  }
}

/** The reaction buttons of a message; ctx.react(msg, name, on) toggles one. */
export function reactionBar(msg, ctx) {
  if (!reactionSet.length) return null;
  const bar = h("div", { class: "reactions", role: "group", "aria-label": "Reactions" },
    reactionSet.map((kind) => h("button", {
      type: "button", class: "reaction", "data-reaction": kind.name,
      onclick: (event) => {
        const pressed = event.currentTarget.getAttribute("aria-pressed") === "true";
        ctx.react(msg, kind.name, !pressed);
      },
    }, h("span", { class: "reaction__symbol", "aria-hidden": "true" }, kind.symbol),
    h("span", { class: "reaction__count", "aria-hidden": "true" }))));
  paint(bar, msg, ctx.me);
  return bar;
}

/** Apply a `reactions` frame (or an HTTP answer) to the stored message and its bar on screen. */
export function applyReactions(msg, summary, root, me) {
  if (!msg || (msg.reactionsVersion || 0) >= summary.version) return;
  msg.reactions = summary.reactions;
  msg.reactionsVersion = summary.version;
  for (const bar of root.querySelectorAll(`li[data-id="${CSS.escape(msg.id)}"] > .reactions`)) paint(bar, msg, me);
}
