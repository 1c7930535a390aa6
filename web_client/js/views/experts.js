// Screens of questions to experts: a session's questions (#/event/ID/questions), the Ask the
// Expert topics of my communities with the answered archive (#/experts?q=…), and one topic
// (#/experts/ID).

import { api } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { QuestionPanel } from "./questions.js";

const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric" });
const ASKING = new Set(["scheduled", "lobby", "live"]);
const STATE_WORDS = {
  scheduled: "Questions are open before the session starts.",
  lobby: "The lobby is open; questions are welcome.",
  live: "The session is live.",
  ended: "The session has ended.",
  archived: "The session has ended; its archive is published.",
  cancelled: "This session was cancelled.",
};

function failure(err) {
  return h("p", { class: "notice notice--danger", role: "alert" },
    err.status === 404 ? "This page does not exist, or it is not open to you." : (err.detail || "This page could not be loaded. Please reload."));
}

export function showEventQuestions(main, app, r) {
  document.title = "Questions · Kindred";
  const heading = h("h1", {}, "Questions");
  const intro = h("p", {});
  const body = h("div", {});
  main.appendChild(h("div", { class: "questions-screen" }, heading, intro, body));
  let panel = null;
  api.get(`/api/events/${encodeURIComponent(r.id)}`).then((event) => {
    heading.textContent = `Questions: ${event.title}`;
    document.title = `Questions: ${event.title} · Kindred`;
    intro.textContent = STATE_WORDS[event.state] || "";
    const live = event.state === "lobby" || event.state === "live";
    panel = new QuestionPanel(body, app, { kind: "event", id: event.id, title: event.title,
      room: live ? event.live_room : null, open: ASKING.has(event.state) });
  }).catch((err) => replace(body, failure(err)));
  return { cleanup: () => panel && panel.cleanup() };
}

function topicCard(t) {
  const id = uid("topic");
  const window = `${dayFormat.format(new Date(t.opens_at))} to ${dayFormat.format(new Date(t.closes_at))}`;
  return h("li", {}, h("article", { class: "community", "aria-labelledby": id },
    h("h3", { id }, h("a", { href: `#/experts/${encodeURIComponent(t.id)}` }, t.title)),
    h("p", { class: "kind-label" }, `With ${t.experts.map((e) => e.handle).join(", ")} · ${window}`),
    h("p", {}, t.description),
    h("p", { class: "hint" }, `${t.questions.answered} answered, ${t.questions.open} waiting for an answer`)));
}

export function showExperts(main, app, r) {
  document.title = "Ask the Expert · Kindred";
  const searchId = uid("topic-search");
  const search = h("input", { type: "search", id: searchId, name: "q", autocomplete: "off", value: r.q || "" });
  const results = h("div", {}, h("p", { class: "loading" }, "Loading topics…"));
  const status = h("p", { role: "status", class: "hint" });
  main.appendChild(h("div", { class: "directory" },
    h("h1", {}, "Ask the Expert"),
    h("p", {}, "Each month an expert takes questions on one topic. Ask while a topic is open; the expert answers in writing when it closes, and the answers stay here for everyone in the community."),
    h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); app.navigate(`#/experts?q=${encodeURIComponent(search.value.trim())}`); } },
      h("div", { class: "field" }, h("label", { for: searchId }, "Search the answered questions"), search),
      h("p", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Search"))),
    status, results));

  async function load(q) {
    try {
      const found = (await api.get(`/api/ask-the-expert${q ? `?q=${encodeURIComponent(q)}` : ""}`)).topics;
      const groups = [["open", "Open for questions"], ["upcoming", "Coming up"], ["closed", "Answered and archived"]];
      const sections = groups.map(([state, title]) => {
        const items = found.filter((t) => t.state === state);
        if (!items.length) return null;
        const id = uid("section");
        return h("section", { "aria-labelledby": id }, h("h2", { id }, title), h("ul", { class: "community-list" }, items.map(topicCard)));
      });
      replace(results, found.length ? sections : h("p", { class: "notice" }, q ? "No topic matches. Try another word." : "There are no topics yet."));
      status.textContent = q ? `${found.length} ${found.length === 1 ? "topic" : "topics"} found.` : "";
    } catch (err) {
      replace(results, failure(err));
    }
  }
  load(r.q);
  return { update: (next) => { search.value = next.q || ""; load(next.q); } };
}

export function showTopic(main, app, r) {
  document.title = "Ask the Expert · Kindred";
  const heading = h("h1", {}, "Ask the Expert");
  const about = h("div", {});
  const body = h("div", {});
  main.appendChild(h("div", { class: "questions-screen" },
    h("p", {}, h("a", { href: "#/experts" }, "All topics")), heading, about, body));
  let panel = null;
  api.get(`/api/ask-the-expert/${encodeURIComponent(r.id)}`).then((t) => {
    heading.textContent = t.title;
    document.title = `${t.title} · Ask the Expert · Kindred`;
    const when = t.state === "open" ? `Open for questions until ${dayFormat.format(new Date(t.closes_at))}.`
      : t.state === "upcoming" ? `Opens for questions on ${dayFormat.format(new Date(t.opens_at))}.`
        : "Closed for questions. The expert’s answers are below.";
    replace(about, h("p", {}, t.description), h("p", { class: "hint" }, `With ${t.experts.map((e) => e.handle).join(", ")}. ${when}`));
    panel = new QuestionPanel(body, app, { kind: "topic", id: t.id, title: t.title, room: t.room, open: t.state === "open" });
  }).catch((err) => replace(body, failure(err)));
  return { cleanup: () => panel && panel.cleanup() };
}
