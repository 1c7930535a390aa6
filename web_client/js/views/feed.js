// The feed (#/feed): what the people I follow wrote, asked and host lately, newest first,
// only from rooms I can open myself (GET /api/feed, docs/social.md). Older entries page in
// with "Show older"; every piece of member text is set as text.

import { api } from "../api.js";
import { h, replace, timeElement, focusOn } from "../dom.js";
import { roomHash } from "../router.js";
import { couldNotLoad } from "../retry.js";
import { sessionHash } from "./sessions.js";
import { personLink } from "./ties.js";

const dateFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit" });

function where(e) {
  return h("a", { href: roomHash(e.room) }, e.room_name);
}

function questionHash(q) {
  return q.event ? `#/event/${encodeURIComponent(q.event)}/questions` : `#/experts/${encodeURIComponent(q.topic)}`;
}

/** One entry as a list item: who, what, where, when, and the words. */
export function feedItem(e) {
  let what;
  let words = null;
  let open = null;
  if (e.kind === "message" || e.kind === "reply") {
    what = [e.kind === "reply" ? " replied in " : " wrote in ", where(e)];
    words = e.message.body;
    open = h("a", { href: roomHash(e.room, e.message.thread_root || null) }, e.message.thread_root ? "Open the thread" : "Open the room");
  } else if (e.kind === "question") {
    what = [" asked the experts in ", e.question.event ? e.room_name : where(e)];
    words = e.question.body;
    open = h("a", { href: questionHash(e.question) }, e.question.status === "answered" ? "Read the answer" : "See the questions");
  } else {
    const s = e.session;
    what = [` will host “${s.title}” in `, where(e)];
    words = s.starts_at ? `${s.kind === "webinar" ? "Webinar" : "Drop-in"} on ${dateFormat.format(new Date(s.starts_at))}` : null;
    open = h("a", { href: sessionHash(s.id) }, "Open the session");
  }
  return h("li", { class: "feed__item" },
    h("p", { class: "feed__meta" }, personLink(e.by), what, " ", timeElement(e.at)),
    words ? h("p", { class: "feed__words" }, words) : null,
    h("p", { class: "feed__open" }, open));
}

export function showFeed(main, app) {
  document.title = "Feed · Kindred";
  const list = h("ul", { class: "feed__list", "aria-label": "Recent activity of the people you follow" });
  const more = h("p", {});
  const status = h("p", { role: "status", class: "hint" });
  main.appendChild(h("div", { class: "feed" },
    h("h1", {}, "Feed"),
    h("p", {}, "What the people you follow have written, asked and hosted lately, newest first. Only rooms you can open yourself are shown."),
    h("p", {}, h("a", { href: "#/friends" }, "Friends and following")),
    status, list, more));

  let next = null;
  async function load(reset) {
    try {
      const q = new URLSearchParams({ limit: "30" });
      if (!reset && next) q.set("before", next);
      const page = await api.get(`/api/feed?${q}`);
      if (reset) list.replaceChildren();
      const first = page.entries.length ? feedItem(page.entries[0]) : null;
      if (first) list.appendChild(first);
      for (const e of page.entries.slice(1)) list.appendChild(feedItem(e));
      next = page.next;
      if (!list.childElementCount) {
        list.appendChild(h("li", { class: "feed__item" },
          "Nothing here yet. Open someone's profile (select their name in a room) and choose Follow: what they write shows here."));
      }
      replace(more, next ? h("button", { type: "button", class: "button button--quiet", onclick: () => load(false) }, "Show older") : null);
      if (!reset) {
        const n = page.entries.length;
        status.textContent = n === 1 ? "1 older entry shown." : `${n} older entries shown.`;
        if (first) focusOn(first);
      }
    } catch (err) {
      couldNotLoad(list, app, "Your feed", err, () => load(true));
    }
  }

  load(true);
  return {};
}
