// The navigator's queue of private-talk requests (#/talks, docs/social.md): members who asked
// to talk privately with a navigator, in the rooms this navigator looks after, live while they
// are on duty. The first navigator to take a request opens the conversation; anyone else is
// told who took it. New requests are read out politely; elsewhere on the page a calm banner
// says one is waiting, and the menu shows how many.

import { api } from "../api.js";
import { h, replace, uid, announce, focusOn, roleBadge } from "../dom.js";
import { newCid } from "../socket.js";
import { conversationHash } from "./talk.js";

function waited(askedAt) {
  const m = Math.floor((Date.now() - askedAt) / 60000);
  if (m < 1) return "asked just now";
  return m === 1 ? "waiting for 1 minute" : `waiting for ${m} minutes`;
}

function takeError(frame) {
  if (frame.code === "talk_taken") {
    return `${frame.by ? frame.by.handle : "Another navigator"} has already taken this request. Thank you for answering.`;
  }
  if (frame.code === "no_such_talk") return "This request is no longer waiting: the member withdrew it, or it lapsed.";
  if (frame.code === "forbidden") return "Only the navigators of that room can take this request.";
  if (frame.code === "unavailable") return "That could not be done just now. The request is still waiting; please try again.";
  return frame.detail || "That did not work. Please try again.";
}

/** The queue as this page knows it, for every screen: one per page. */
export class NavigatorDesk {
  constructor(app, { banner, count }) {
    this.app = app;
    this.banner = banner;     // where a new request is shown when the queue is not on screen
    this.count = count;       // the menu's badge
    this.queue = null;        // the latest talk_queue frame; null while off duty
    this.seen = new Set();    // request ids already announced
    this.pending = new Map(); // cid -> request id, for accept answers
    this.screen = null;       // the #/talks screen, when shown
    this.status = "";
  }

  frame(frame) {
    if (frame.type === "talk_queue") {
      this.queueChanged(frame);
      return true;
    }
    if (frame.type === "duty") {
      if (!frame.on) this.queue = null; // no more queue frames until back on duty
      this.showCount();
      if (this.screen) this.screen.render();
      return false; // the room's moderation panel hears it too
    }
    if (frame.type === "talk_accepted" || (frame.type === "error" && this.pending.has(frame.cid))) {
      if (!this.pending.has(frame.cid)) return true;
      this.pending.delete(frame.cid);
      if (frame.type === "talk_accepted") {
        this.say(`You are talking privately with ${frame.member.handle}. Opening the conversation…`);
        if (frame.conversation_room) this.app.navigate(conversationHash(frame));
      } else {
        this.say(takeError(frame));
      }
      return true;
    }
    return false;
  }

  queueChanged(frame) {
    this.queue = frame;
    const fresh = frame.requests.filter((r) => !this.seen.has(r.id));
    for (const r of frame.requests) this.seen.add(r.id);
    this.showCount();
    if (this.screen) this.screen.render();
    if (!fresh.length) return;
    // Rooms are named by their titles, so the list is fetched first if not yet loaded.
    this.app.loadCommunities().catch(() => []).then((rooms) => this.announceFresh(fresh, rooms || []));
  }

  announceFresh(fresh, names) {
    if (!this.app.user) return;
    const where = (slug) => (names.find((c) => c.slug === slug) || {}).name || "a room";
    const words = fresh.length === 1
      ? `${fresh[0].member.handle} in ${where(fresh[0].room)} asks to talk privately with a navigator.`
      : `${fresh.length} members ask to talk privately with a navigator.`;
    announce(words);
    if (!this.screen) {
      replace(this.banner, h("div", { class: "notice" },
        h("p", {}, h("strong", {}, words)),
        h("p", { class: "actions" },
          h("a", { href: "#/talks", onclick: () => this.banner.replaceChildren() }, "Open private talks"),
          h("button", { type: "button", class: "button button--quiet button--small", onclick: () => this.banner.replaceChildren() }, "Dismiss"))));
    }
  }

  showCount() {
    const n = this.queue ? this.queue.count : 0;
    this.count.hidden = !n;
    replace(this.count, n ? [String(n), h("span", { class: "visually-hidden" }, n === 1 ? " member waiting" : " members waiting")] : []);
  }

  take(request) {
    const cid = newCid();
    this.pending.set(cid, request.id);
    if (!this.app.conn.send({ type: "talk_accept", id: request.id, cid })) {
      this.pending.delete(cid);
      this.say("You are not connected right now. Please try again in a moment.");
      return;
    }
    this.say(`Opening a private conversation with ${request.member.handle}…`);
  }

  say(text) {
    this.status = text;
    if (this.screen) this.screen.say(text);
    else announce(text);
  }

  setDuty(on) {
    this.app.onDuty = on;
    this.app.conn.send({ type: "duty", on });
  }

  reset() {
    this.queue = null;
    this.seen.clear();
    this.pending.clear();
    this.showCount();
  }
}

/** The #/talks screen. */
export function showTalkQueue(main, app) {
  document.title = "Private talks · Kindred";
  const desk = app.desk;
  const status = h("p", { class: "hint", role: "status" });
  const dutyId = uid("duty");
  const duty = h("input", { type: "checkbox", id: dutyId, onchange: () => desk.setDuty(duty.checked) });
  const list = h("div", {});
  main.appendChild(h("div", { class: "talks" },
    h("h1", {}, "Private talks"),
    h("p", {}, "Members who asked to talk privately with a navigator, in the rooms you look after, the longest waiting first. Take one and a private conversation opens between you; the member is told it is you. If two of you take the same request, the first one has it."),
    h("div", { class: "checkbox" }, duty, h("label", { for: dutyId }, "I am on duty: show me members who ask, and alert me to crisis messages and reports")),
    status, list));
  let names = new Map();
  app.loadCommunities().then((rooms) => {
    names = new Map(rooms.map((c) => [c.slug, c.name]));
    screen.render();
  }).catch(() => null);

  function entry(r) {
    const headingId = uid("talk");
    return h("li", { class: "talk-request", "data-id": r.id },
      h("h2", { id: headingId, class: "talk-request__who" }, r.member.handle, " ", roleBadge(r.member.role)),
      h("p", {}, "In ", names.get(r.room) || r.room, " · ", h("span", { class: "talk-request__waited" }, waited(r.asked_at)),
        r.place > 1 ? ` · number ${r.place} in line` : null),
      r.resources_shown ? h("p", { class: "hint" }, "Nobody was free in time, so they have been shown the numbers to call. They are still waiting.") : null,
      h("button", { type: "button", class: "button", "aria-describedby": headingId, onclick: () => desk.take(r) },
        `Talk with ${r.member.handle}`));
  }

  const screen = {
    render() {
      duty.checked = !!app.onDuty;
      if (!app.onDuty) {
        replace(list, h("p", { class: "notice" }, "Go on duty to see members who ask, as they ask."));
        return;
      }
      if (!desk.queue) {
        replace(list, h("p", { class: "loading" }, "Loading the queue…"));
        return;
      }
      const requests = desk.queue.requests;
      const focused = document.activeElement && document.activeElement.closest(".talk-request");
      const keep = focused ? focused.getAttribute("data-id") : null;
      replace(list, requests.length
        ? h("ul", { class: "talk-list" }, requests.map(entry))
        : h("p", { class: "notice" }, "Nobody is waiting. Thank you for being here."));
      if (desk.queue.count > requests.length) {
        list.appendChild(h("p", { class: "hint" }, `${desk.queue.count} are waiting in all; the longest waiting are shown.`));
      }
      if (keep) {
        const again = list.querySelector(`.talk-request[data-id="${CSS.escape(keep)}"] button`);
        focusOn(again || list.querySelector(".talk-request button") || duty);
      }
    },
    say(text) {
      status.textContent = text;
    },
  };
  desk.screen = screen;
  desk.banner.replaceChildren();
  screen.render();
  // "Waiting for 3 minutes" keeps up with the clock while the screen is open.
  const timer = setInterval(() => {
    for (const li of list.querySelectorAll(".talk-request")) {
      const r = desk.queue && desk.queue.requests.find((q) => q.id === li.getAttribute("data-id"));
      const span = li.querySelector(".talk-request__waited");
      if (r && span) span.textContent = waited(r.asked_at);
    }
  }, 30000);
  // Navigators who are not on duty yet can still read who waits (over HTTP), so the screen is
  // never blank; on duty, the live queue takes over.
  if (!app.onDuty) {
    api.get("/api/talks").then((data) => {
      if (app.onDuty || !data.queue.length) return;
      list.appendChild(h("p", { class: "hint" }, data.count === 1 ? "1 member is waiting now." : `${data.count} members are waiting now.`));
    }).catch(() => null);
  }
  return {
    cleanup() {
      clearInterval(timer);
      desk.screen = null;
    },
  };
}
