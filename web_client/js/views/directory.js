// The community directory: national and local rooms, filter by kind, search by name.

import { h, replace, uid } from "../dom.js";
import { roomHash } from "../router.js";

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

function communityCard(c) {
  const titleId = uid("community");
  return h("li", {},
    h("article", { class: "community", "aria-labelledby": titleId },
      h("h3", { id: titleId }, h("a", { href: roomHash(c.slug) }, c.name)),
      h("p", { class: "kind-label" }, KIND_NAMES[c.kind] || c.kind),
      h("p", {}, c.description || ""),
    ));
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
          h("ul", { class: "community-list" }, local.filter((c) => (c.organization || "") === org).map(communityCard))));
      }
    }
    if (national.length) {
      const id = uid("section");
      sections.push(h("section", { "aria-labelledby": id },
        h("h2", { id }, "National rooms"),
        h("ul", { class: "community-list" }, national.map(communityCard))));
    }
    if (!shown.length) sections.push(h("p", { class: "notice" }, "No room matches. Try another word, or show all rooms."));
    replace(results, sections);
    count.textContent = shown.length === 1 ? "Showing 1 room." : `Showing ${shown.length} rooms.`;
  }

  search.addEventListener("input", render);
  for (const r of radios) r.addEventListener("change", render);

  app.loadCommunities().then((list) => {
    communities = list;
    render();
  }).catch((err) => {
    replace(results, h("p", { class: "notice notice--danger", role: "alert" },
      err.code === "network" ? err.detail : "The rooms could not be loaded. Please reload the page."));
  });
  return {};
}
