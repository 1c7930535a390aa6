// The "Sessions" screen: upcoming drop-ins and webinars by community, mine, and (for staff)
// scheduling a new one. Times are shown in the member's own time zone.

import { api } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { field, errorSummary } from "../forms.js";

export const KIND_LABEL = { drop_in: "Drop-in", webinar: "Webinar" };
export const STATE_LABEL = {
  scheduled: "Scheduled",
  lobby: "Lobby open",
  live: "Live now",
  ended: "Ended",
  archived: "Archive available",
  cancelled: "Cancelled",
};
const SIGNUP_LABEL = { in: "You are signed up", waiting: "You are on the waiting list", host: "You host this" };

const whenFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit", timeZoneName: "short",
});
const untilFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });

export function sessionHash(id) {
  return `#/sessions/${encodeURIComponent(id)}`;
}

/** "Tue 5 Jan, 18:00 – 19:00 GMT+1" in the member's zone, as a <time>. */
export function whenElement(ev) {
  const start = new Date(ev.starts_at);
  const end = new Date(ev.ends_at);
  return h("time", { datetime: start.toISOString() }, `${whenFormat.format(start)} – ${untilFormat.format(end)}`);
}

function sessionCard(ev, communityName) {
  const titleId = uid("session");
  const mine = ev.runs && ev.hosts.some((x) => x.id === ev.viewer) ? "host" : ev.my_signup;
  return h("li", {},
    h("article", { class: "community session-card", "aria-labelledby": titleId },
      h("h3", { id: titleId }, h("a", { href: sessionHash(ev.id) }, ev.title)),
      h("p", { class: "kind-label" }, `${KIND_LABEL[ev.kind] || ev.kind} · ${communityName}`),
      h("p", {}, whenElement(ev)),
      h("p", { class: `session-state session-state--${ev.state}` }, STATE_LABEL[ev.state] || ev.state,
        mine ? ` · ${SIGNUP_LABEL[mine] || ""}` : ""),
    ));
}

function scheduleForm(app, communities, onDone) {
  const summary = errorSummary();
  const roomId = uid("room");
  const kindId = uid("kind");
  const modeId = uid("mode");
  const room = h("select", { id: roomId, name: "room" },
    communities.map((c) => h("option", { value: c.slug }, c.name)));
  const kind = h("select", { id: kindId, name: "kind" },
    h("option", { value: "drop_in" }, "Drop-in (a small support group)"),
    h("option", { value: "webinar" }, "Webinar (an expert talks, the audience listens)"));
  const mode = h("select", { id: modeId, name: "audience_mode" },
    h("option", { value: "chat" }, "Everyone can write in the chat"),
    h("option", { value: "hosts_only" }, "Only hosts write; the audience reads"));
  const title = field({ label: "Title", name: "title", maxlength: 120 });
  const description = field({ label: "Description", name: "description", multiline: true, hint: "Plain text. Links are fine." });
  const starts = field({ label: "Starts", name: "starts", type: "datetime-local", hint: "In your time zone." });
  const minutes = field({ label: "Length in minutes", name: "minutes", type: "number", value: "60", inputmode: "numeric" });
  const capacity = field({ label: "Places (leave empty for no limit)", name: "capacity", type: "number", inputmode: "numeric" });
  const weeks = field({ label: "Repeat every week, this many times (1 = once)", name: "weeks", type: "number", value: "1", inputmode: "numeric" });
  const video = field({ label: "Video link (optional)", name: "video", type: "url", hint: "Your organization's own meeting or streaming page, https only." });
  const done = h("p", { role: "status" });
  const button = h("button", { type: "submit", class: "button" }, "Schedule");
  const form = h("form", { novalidate: true, "aria-labelledby": "schedule-title", class: "form-card" },
    summary.box,
    h("h2", { id: "schedule-title" }, "Schedule a session"),
    h("div", { class: "field" }, h("label", { for: roomId }, "Community"), room),
    h("div", { class: "field" }, h("label", { for: kindId }, "Kind"), kind),
    title.wrapper, description.wrapper, starts.wrapper, minutes.wrapper, capacity.wrapper,
    weeks.wrapper,
    h("div", { class: "field" }, h("label", { for: modeId }, "Chat during a webinar"), mode),
    video.wrapper,
    h("div", { class: "actions" }, button), done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    summary.clear();
    for (const f of [title, starts, minutes]) f.setError("");
    const problems = [];
    if (!title.input.value.trim()) problems.push({ text: "Give the session a title.", field: title });
    const start = starts.input.value ? new Date(starts.input.value) : null;
    if (!start || Number.isNaN(start.getTime())) problems.push({ text: "Choose when it starts.", field: starts });
    const length = Number(minutes.input.value);
    if (!(length >= 5 && length <= 720)) problems.push({ text: "A session lasts 5 to 720 minutes.", field: minutes });
    if (problems.length) {
      for (const p of problems) p.field.setError(p.text);
      summary.show("Please check the form", problems);
      return;
    }
    const count = Math.max(1, Number(weeks.input.value) || 1);
    const body = {
      room: room.value, kind: kind.value, title: title.input.value, description: description.input.value,
      starts_at: start.toISOString(), ends_at: new Date(start.getTime() + length * 60000).toISOString(),
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
      capacity: capacity.input.value ? Number(capacity.input.value) : null,
      recurrence: count > 1 ? `FREQ=WEEKLY;COUNT=${count}` : null,
      audience_mode: kind.value === "webinar" ? mode.value : "chat",
      video_url: video.input.value.trim() || null,
    };
    button.disabled = true;
    try {
      const made = await api.post("/api/events", body);
      done.textContent = `Scheduled: ${made.title}.`;
      onDone(made);
    } catch (err) {
      summary.show("The session could not be scheduled", [{ text: err.detail || "Please try again in a moment." }]);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

const STAFF = new Set(["navigator", "org_admin", "admin"]);

export function showSessions(main, app) {
  document.title = "Sessions · Kindred";
  const status = h("p", { role: "status", class: "hint" });
  const upcoming = h("div", {}, h("p", { class: "loading" }, "Loading sessions…"));
  const mine = h("div", {});
  const staffArea = h("div", {});
  main.appendChild(h("div", { class: "directory sessions" },
    h("h1", {}, "Sessions"),
    h("p", {}, "Drop-in groups with a navigator and webinars with experts. Sign up, add them to your calendar, and join when the lobby opens. Times are in your time zone."),
    status,
    h("section", { "aria-labelledby": "mine-title" }, h("h2", { id: "mine-title" }, "My sessions"), mine),
    h("section", { "aria-labelledby": "upcoming-title" }, h("h2", { id: "upcoming-title" }, "Upcoming"), upcoming),
    staffArea));

  async function load() {
    const [communities, listed, my] = await Promise.all([
      app.loadCommunities(), api.get(`/api/events?from=${encodeURIComponent(new Date().toISOString())}`),
      api.get("/api/me/events"),
    ]);
    const names = Object.fromEntries(communities.map((c) => [c.slug, c.name]));
    const tag = (ev) => ({ ...ev, viewer: app.user.id });
    const myList = my.events.filter((ev) => new Date(ev.ends_at) > new Date());
    replace(mine, myList.length
      ? h("ul", { class: "community-list" }, myList.map((ev) => sessionCard(tag(ev), names[ev.room] || ev.room)))
      : h("p", {}, "You have not signed up for a session yet."));
    const byRoom = new Map();
    for (const ev of listed.events) {
      if (!byRoom.has(ev.room)) byRoom.set(ev.room, []);
      byRoom.get(ev.room).push(ev);
    }
    const sections = [];
    for (const [slug, list] of byRoom) {
      const id = uid("section");
      sections.push(h("section", { "aria-labelledby": id },
        h("h3", { id }, names[slug] || slug),
        h("ul", { class: "community-list" }, list.map((ev) => sessionCard(tag(ev), names[slug] || slug)))));
    }
    replace(upcoming, sections.length ? sections : h("p", {}, "No session is scheduled yet."));
    status.textContent = listed.events.length === 1 ? "1 upcoming session." : `${listed.events.length} upcoming sessions.`;
    if (STAFF.has(app.user.role) && !staffArea.childElementCount) {
      staffArea.appendChild(scheduleForm(app, communities, (made) => { app.navigate(sessionHash(made.id)); }));
    }
  }

  load().catch((err) => {
    replace(upcoming, h("p", { class: "notice notice--danger", role: "alert" },
      err.code === "network" ? err.detail : "The sessions could not be loaded. Please reload the page."));
  });
  return {};
}
