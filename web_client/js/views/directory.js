// The community directory: national and local rooms, filter by kind, search by name.

import { h, replace, uid } from "../dom.js";
import { roomHash } from "../router.js";
import { couldNotLoad } from "../retry.js";
import { pendingStore } from "../pending.js";

export const KIND_NAMES = {
  cancer_type: "Cancer type",
  supportive_care: "Supportive care",
  local: "Local",
};

const KIND_FILTERS = [
  ["all", "All rooms"],
  ["cancer_type", "Cancer types"],
  ["supportive_care", "Supportive care"],
  ["local", "Local"],
];

const UNREAD_REFRESH_MS = 20000;

function newBadge(n) {
  if (!n) return null;
  const shown = n >= 100 ? "99+" : String(n);
  return h("span", { class: "badge badge--new" }, shown, h("span", { class: "visually-hidden" }, n === 1 ? " new message" : " new messages"));
}

function communityCard(c, unread) {
  const titleId = uid("community");
  return h("li", {},
    h("article", { class: "community", "aria-labelledby": titleId },
      h("h3", { id: titleId }, h("a", { href: roomHash(c.slug) }, c.name), " ",
        h("span", { "data-unread": c.slug }, newBadge(unread[c.slug]))),
      h("p", { class: "kind-label" }, KIND_NAMES[c.kind] || c.kind),
      h("p", {}, c.description || ""),
    ));
}

/** Messages written in a room and not sent yet (the page was closed first): where to send them. */
function pendingNotice(app, communities) {
  const counts = new Map();
  for (const item of pendingStore.all(app.user.id)) counts.set(item.room, (counts.get(item.room) || 0) + 1);
  if (!counts.size) return null;
  const names = new Map(communities.map((c) => [c.slug, c.name]));
  return h("div", { class: "notice", role: "status" },
    h("p", {}, "Some messages you wrote have not been sent yet. Open the room to send them:"),
    h("ul", {}, [...counts].map(([room, n]) => h("li", {},
      h("a", { href: roomHash(room) }, names.get(room) || room),
      n === 1 ? " (1 message)" : ` (${n} messages)`))));
}

export function showDirectory(main, app) {
  document.title = "Rooms · Kindred";
  const searchId = uid("room-search");
  const search = h("input", { type: "search", id: searchId, name: "q", autocomplete: "off" });
  const kindName = uid("kind");
  const radios = KIND_FILTERS.map(([value, label], i) => {
    const id = uid("kind");
    return h("label", { for: id },
      h("input", { type: "radio", name: kindName, id, value, checked: i === 0 }), label);
  });
  const count = h("p", { role: "status", class: "hint" });
  const results = h("div", {}, h("p", { class: "loading" }, "Loading rooms…"));
  const waiting = h("div");

  main.appendChild(h("div", { class: "directory" },
    h("h1", {}, "Rooms"),
    h("p", {}, "Choose a room to join the conversation. National rooms are open to every member; local rooms are only for your organization."),
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "field" },
        h("label", { for: searchId }, "Find a room by name"), search),
      h("fieldset", { class: "kind-filter" },
        h("legend", {}, "Show"),
        h("div", { class: "kind-filter__options" }, radios)),
    ),
    waiting,
    count,
    results,
  ));

  let communities = [];
  function render() {
    const text = search.value.trim().toLowerCase();
    const kind = main.querySelector(`input[name="${kindName}"]:checked`).value;
    const shown = communities.filter((c) =>
      (kind === "all" || c.kind === kind) && (!text || c.name.toLowerCase().includes(text)));
    const national = shown.filter((c) => c.scope === "national");
    const local = shown.filter((c) => c.scope === "local");
    const orgs = [...new Set(local.map((c) => c.organization || ""))];
    const sections = [];
    if (local.length) {
      for (const org of orgs) {
        const id = uid("section");
        sections.push(h("section", { "aria-labelledby": id },
          h("h2", { id }, org ? `Local rooms: ${org}` : "Local rooms"),
          h("ul", { class: "community-list" }, local.filter((c) => (c.organization || "") === org).map((c) => communityCard(c, app.unread.rooms)))));
      }
    }
    if (national.length) {
      const id = uid("section");
      sections.push(h("section", { "aria-labelledby": id },
        h("h2", { id }, "National rooms"),
        h("ul", { class: "community-list" }, national.map((c) => communityCard(c, app.unread.rooms)))));
    }
    if (!shown.length) sections.push(h("p", { class: "notice" }, "No room matches. Try another word, or show all rooms."));
    replace(results, sections);
    count.textContent = shown.length === 1 ? "Showing 1 room." : `Showing ${shown.length} rooms.`;
  }

  search.addEventListener("input", render);
  // New counts change the badges in place: re-rendering the list would take the keyboard
  // focus away from the room a member is on.
  const onUnread = () => {
    for (const slot of results.querySelectorAll("[data-unread]")) {
      replace(slot, newBadge(app.unread.rooms[slot.dataset.unread]));
    }
  };
  document.addEventListener("kindred:unread", onUnread);
  // Rooms the member is not in send nothing to this page (a push per message to every member
  // of a community would cost a fan-out to thousands): the counts are read again every
  // UNREAD_REFRESH_MS while the page is shown, when the tab comes back, and with every
  // notification (app.js).
  const refresh = () => document.visibilityState === "visible" && app.refreshUnread();
  const timer = setInterval(refresh, UNREAD_REFRESH_MS);
  document.addEventListener("visibilitychange", refresh);
  for (const r of radios) r.addEventListener("change", render);

  function load() {
    app.loadCommunities(true).then((list) => {
      communities = list;
      render();
      replace(waiting, pendingNotice(app, list));
    }).catch((err) => couldNotLoad(results, app, "The list of rooms", err, load));
  }
  load();
  app.refreshUnread();
  return {
    cleanup: () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", refresh);
      document.removeEventListener("kindred:unread", onUnread);
    },
  };
}
