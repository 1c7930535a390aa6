// One session's page: its state (countdown, lobby, live, ended, archive), sign-up and the
// waiting list, "Add to my calendar", the way into its live room, and the hosts' controls.
// State changes arrive as `event_state` frames (docs/protocol.md §4) and are read out.

import { api } from "../api.js";
import { h, replace, announce, timeElement } from "../dom.js";
import { roomHash } from "../router.js";
import { KIND_LABEL, STATE_LABEL, whenElement } from "./sessions.js";

const SPOKEN = {
  lobby: "The lobby is open. You can go in now.",
  live: "The session is live now.",
  ended: "The session has ended. Thank you for coming.",
  archived: "The archive of the session is published.",
  cancelled: "The session was cancelled.",
};

function countdown(ev) {
  const ms = new Date(ev.starts_at).getTime() - Date.now();
  if (ms <= 0) return "Starting now.";
  const minutes = Math.round(ms / 60000);
  if (minutes < 60) return `Starts in ${minutes} minute${minutes === 1 ? "" : "s"}.`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `Starts in about ${hours} hour${hours === 1 ? "" : "s"}.`;
  return `Starts in ${Math.round(hours / 24)} days.`;
}

function stateText(ev) {
  if (ev.state === "scheduled") return countdown(ev);
  if (ev.state === "cancelled") return `Cancelled${ev.cancel_reason ? `: ${ev.cancel_reason}` : "."}`;
  return `${STATE_LABEL[ev.state]}.`;
}

export function showSession(main, app, route) {
  const id = route.id;
  const title = h("h1", {}, "Session");
  const stateLine = h("p", { class: "session-status", role: "status" });
  const body = h("div", {}, h("p", { class: "loading" }, "Loading the session…"));
  const problem = h("div", {});
  main.appendChild(h("div", { class: "session" },
    h("p", {}, h("a", { href: "#/sessions" }, "All sessions")), title, stateLine, problem, body));
  let ev = null;
  let timer = null;

  function fail(err) {
    replace(problem, h("p", { class: "notice notice--danger", role: "alert" },
      err.detail || "Something went wrong. Please try again in a moment."));
  }

  async function act(fn) {
    replace(problem);
    try {
      ev = await fn();
      render();
    } catch (err) {
      fail(err);
    }
  }

  function signupArea() {
    if (["ended", "archived", "cancelled"].includes(ev.state)) return null;
    const full = ev.capacity !== null && ev.signed_up.in >= ev.capacity;
    const places = ev.capacity === null
      ? `${ev.signed_up.in} signed up.`
      : `${ev.signed_up.in} of ${ev.capacity} places taken${ev.signed_up.waiting ? `, ${ev.signed_up.waiting} waiting` : ""}.`;
    const button = ev.runs && !ev.my_signup ? null : ev.my_signup
      ? h("button", { type: "button", class: "button button--quiet", onclick: () => act(() => api.del(`/api/events/${id}/signup`)) },
        ev.my_signup === "in" ? "Withdraw" : "Leave the waiting list")
      : h("button", { type: "button", class: "button", onclick: () => act(() => api.put(`/api/events/${id}/signup`)) },
        full ? "Join the waiting list" : "Sign up");
    const mine = ev.my_signup === "in" ? "You are signed up." : ev.my_signup === "waiting"
      ? "You are on the waiting list. We will tell you if a place opens." : "";
    return h("section", { "aria-labelledby": "signup-title", class: "panel" },
      h("h2", { id: "signup-title" }, "Taking part"),
      h("p", {}, places), mine ? h("p", {}, h("strong", {}, mine)) : null,
      h("p", { class: "actions" }, button,
        h("a", { class: "button button--quiet", href: `/api/events/${id}/calendar.ics`, download: `session-${id}.ics` }, "Add to my calendar")));
  }

  function roomArea() {
    const open = ev.state === "lobby" || ev.state === "live";
    const may = ev.runs || (ev.my_signup === "in" && open);
    if (!may || ["archived", "cancelled"].includes(ev.state)) return null;
    const video = ev.video ? h("p", {},
      h("a", { href: ev.video.url, target: "_blank", rel: "noopener noreferrer" }, "Open the video (new tab)")) : null;
    const frame = ev.video && ev.video.embed && open
      ? h("iframe", { class: "session-video", src: ev.video.url, title: `Video: ${ev.title}`, allow: "fullscreen", referrerpolicy: "no-referrer" })
      : null;
    return h("section", { "aria-labelledby": "room-title", class: "panel" },
      h("h2", { id: "room-title" }, ev.state === "live" ? "The session is live" : "The room"),
      h("p", {}, ev.audience_mode === "hosts_only" && ev.kind === "webinar"
        ? "Only the hosts write in this webinar's chat; you can read along." : "Say hello when you come in."),
      h("p", { class: "actions" }, h("a", { class: "button", href: roomHash(ev.live_room) },
        ev.state === "lobby" ? "Go to the lobby" : "Go to the room")),
      video, frame);
  }

  function hostArea() {
    if (!ev.runs) return null;
    const next = {
      scheduled: [["lobby", "Open the lobby"], ["live", "Start now"]],
      lobby: [["live", "Start"]], live: [["ended", "End the session"]], ended: [["archived", "Publish the archive"]],
    }[ev.state] || [];
    const reasonId = "cancel-reason";
    const reason = h("input", { id: reasonId, name: "reason", maxlength: 500 });
    const cancel = ["scheduled", "lobby"].includes(ev.state) ? h("form", {
      class: "mod-form",
      onsubmit: (e) => {
        e.preventDefault();
        if (!reason.value.trim()) { fail({ detail: "Give a short reason: everyone signed up is told." }); return; }
        act(() => api.post(`/api/events/${id}/cancel`, { reason: reason.value.trim() }));
      },
    }, h("label", { for: reasonId }, "Reason for cancelling (members see it)"), reason,
    h("button", { type: "submit", class: "button button--danger button--small" }, "Cancel this date")) : null;
    const waiting = (ev.signups && ev.signups.waiting) || [];
    return h("section", { "aria-labelledby": "host-title", class: "panel" },
      h("h2", { id: "host-title" }, "Hosting"),
      h("p", { class: "actions" }, next.map(([state, label]) => h("button", {
        type: "button", class: "button", onclick: () => act(() => api.post(`/api/events/${id}/state`, { state })),
      }, label))),
      waiting.length ? h("div", {}, h("h3", {}, "Waiting list"),
        h("ul", { class: "mod-list" }, waiting.map((m) => h("li", {}, m.handle, " ",
          h("button", { type: "button", class: "button button--small", onclick: () => act(() => api.post(`/api/events/${id}/admit`, { user: m.id })) },
            `Let ${m.handle} in`))))) : null,
      cancel);
  }

  async function archiveArea(box) {
    try {
      const found = await api.get(`/api/events/${id}/archive`);
      replace(box, h("h2", { id: "archive-title" }, "Archive"),
        found.messages.length ? h("ol", { class: "message-list" }, found.messages.map((m) => h("li", { class: m.removed ? "message message--removed" : "message" },
          h("p", { class: "message__meta" }, h("span", { class: "message__author" }, m.author.handle), " ", timeElement(m.ts)),
          h("p", { class: "message__body" }, m.removed ? "This message was removed." : m.body))))
          : h("p", {}, "Nothing was written in this session."));
    } catch (err) {
      replace(box, h("p", {}, err.detail || "The archive could not be loaded."));
    }
  }

  function render() {
    document.title = `${ev.title} · Sessions · Kindred`;
    title.textContent = ev.title;
    stateLine.textContent = stateText(ev);
    const archive = (ev.state === "archived" || (ev.runs && ev.state === "ended"))
      ? h("section", { "aria-labelledby": "archive-title", class: "panel" }) : null;
    replace(body,
      h("p", { class: "kind-label" }, `${KIND_LABEL[ev.kind] || ev.kind}`),
      h("p", {}, whenElement(ev)),
      h("p", {}, "Hosted by ", ev.hosts.map((x) => x.handle).join(", "), "."),
      ev.description ? h("p", { class: "session-description" }, ev.description) : null,
      // Questions to the experts (issue 16: views/questions.js), in advance and live.
      ev.kind === "webinar" ? h("p", {}, h("a", { href: `#/event/${encodeURIComponent(ev.id)}/questions` },
        ev.runs ? "Questions: review, pin and answer" : "Questions for the experts")) : null,
      roomArea(), signupArea(), hostArea(), archive);
    if (archive) archiveArea(archive);
  }

  async function load() {
    try {
      ev = await api.get(`/api/events/${id}`);
      render();
    } catch (err) {
      replace(body, h("p", { class: "notice notice--danger", role: "alert" },
        err.status === 404 ? "This session does not exist or is not open to you." : (err.detail || "The session could not be loaded.")));
    }
  }

  function onFrame(event) {
    const frame = event.detail;
    if (frame.type !== "event_state" || frame.event !== id) return;
    if (!frame.changed && SPOKEN[frame.state]) announce(SPOKEN[frame.state]);
    load();
  }
  if (app.conn) app.conn.addEventListener("frame", onFrame);
  timer = setInterval(() => { if (ev && ev.state === "scheduled") stateLine.textContent = stateText(ev); }, 30000);
  load();
  return {
    cleanup() {
      clearInterval(timer);
      if (app.conn) app.conn.removeEventListener("frame", onFrame);
    },
  };
}
