// The safety queue for navigators, across every room they moderate (GET /api/moderation/queue):
// crisis messages and questions, and reports, each with a way to it and "Mark as resolved".

import { api } from "../api.js";
import { h, replace, uid, timeElement } from "../dom.js";
import { itemDetails } from "./safety_items.js";
import { couldNotLoad } from "../retry.js";

export function showSafety(main, app) {
  document.title = "Safety queue · Kindred";
  const status = h("p", { class: "hint", role: "status" });
  const list = h("div", {}, h("p", { class: "loading" }, "Loading the queue…"));
  main.appendChild(h("div", { class: "safety" },
    h("h1", {}, "Safety queue"),
    h("p", {}, "Messages and questions to the experts that may be from someone in crisis, and messages members reported, in the rooms you moderate. Open one to see it where it was written."),
    h("p", { class: "hint" }, "Private messages reach your organization's navigators the same way: only the message concerned is shown, never the conversation, and each time you see one it is recorded in the audit log."),
    status, list));
  let names = new Map();

  function entry(item) {
    const about = itemDetails(item);
    const note = h("input", { type: "text", id: uid("note"), maxlength: 500 });
    const resolve = async () => {
      try {
        await api.post(`/api/moderation/queue/${encodeURIComponent(item.id)}/resolve`, note.value.trim() ? { note: note.value.trim() } : {});
        status.textContent = "Marked as resolved.";
        load();
      } catch {
        status.textContent = "That did not work. Please try again.";
      }
    };
    return h("li", {},
      h("p", {}, h("strong", {}, item.kind === "crisis" ? "Possible crisis" : "Report"),
        " in ", item.private ? "a private conversation" : names.get(item.room) || item.room || "a room", " · ", item.at ? timeElement(item.at) : null),
      about.lines,
      h("div", { class: "field" }, h("label", { for: note.id }, "Note (optional)"), note),
      h("div", { class: "actions" },
        about.link,
        h("button", { type: "button", class: "button button--quiet button--small", onclick: resolve }, "Mark as resolved")));
  }

  async function load() {
    try {
      const [data, rooms] = await Promise.all([api.get("/api/moderation/queue?status=open"), app.loadCommunities()]);
      names = new Map(rooms.map((c) => [c.slug, c.name]));
      const items = data.items || [];
      replace(list, items.length
        ? h("ul", { class: "mod-list" }, items.map(entry))
        : h("p", { class: "notice" }, "Nothing waiting. Thank you for keeping watch."));
    } catch (err) {
      if (err.status === 403) replace(list, h("p", { class: "notice" }, "The safety queue is for navigators."));
      else couldNotLoad(list, app, "The safety queue", err, load);
    }
  }
  load();
  return {};
}
