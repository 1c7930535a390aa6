// Search the messages of every room open to the member (GET /api/search).

import { api } from "../api.js";
import { h, replace, roleBadge, timeElement, uid, focusOn } from "../dom.js";
import { roomHash } from "../router.js";
import { isConversationRoom } from "./conversations.js";
import { couldNotLoad } from "../retry.js";

export function showSearch(main, app, route) {
  document.title = "Search · Kindred";
  const qId = uid("q");
  const roomId = uid("room");
  const input = h("input", { type: "search", id: qId, name: "q", autocomplete: "off", maxlength: 200, required: true });
  input.value = route.q;
  const roomSelect = h("select", { id: roomId, name: "room" }, h("option", { value: "" }, "All rooms"));
  const status = h("div", { role: "status", class: "search-status" });
  const results = h("ol", { class: "message-list", "aria-label": "Search results" });
  const more = h("button", { type: "button", class: "button button--quiet", hidden: true }, "Show more results");
  let names = new Map();
  let nextOffset = null;

  const form = h("form", { class: "search-form", role: "search" },
    h("div", { class: "field" }, h("label", { for: qId }, "Search messages"), input),
    h("div", { class: "field" }, h("label", { for: roomId }, "In"), roomSelect),
    h("button", { type: "submit", class: "button" }, "Search"));

  main.appendChild(h("div", {},
    h("h1", {}, "Search"),
    h("p", {}, "Find earlier messages in the rooms open to you and in your private conversations. Every word you type must appear in the message."),
    form, status, results, more));

  app.loadCommunities().then((list) => {
    names = new Map(list.map((c) => [c.slug, c.name]));
    for (const c of list) roomSelect.appendChild(h("option", { value: c.slug }, c.name));
    roomSelect.value = route.room || "";
    for (const li of results.querySelectorAll("[data-room]")) li.querySelector(".room-name").textContent = roomName(li.dataset.room);
  }).catch(() => {});

  function roomName(slug) {
    return isConversationRoom(slug) ? "a private conversation" : names.get(slug) || slug;
  }

  function resultItem(m) {
    return h("li", { class: "message", "data-room": m.room },
      h("p", { class: "message__meta" },
        h("span", { class: "message__author" }, m.author ? m.author.handle : "Someone"),
        m.author ? roleBadge(m.author.role) : null,
        m.ts ? timeElement(m.ts) : null,
        h("span", { class: "message__status" }, "in ", h("span", { class: "room-name" }, roomName(m.room)))),
      h("p", { class: "message__body" }, m.body || ""),
      h("p", {}, h("a", { href: roomHash(m.room, m.id) }, isConversationRoom(m.room) ? "Open the conversation" : "Open in its room")));
  }

  async function run(offset) {
    const text = input.value.trim();
    if (!text) {
      status.textContent = "Type a word to search for.";
      focusOn(input);
      return;
    }
    status.textContent = "Searching…";
    try {
      const data = await api.search(text, roomSelect.value || route.room, offset);
      if (!offset) results.replaceChildren();
      for (const m of data.results) results.appendChild(resultItem(m));
      nextOffset = data.next_offset;
      more.hidden = nextOffset === null || nextOffset === undefined;
      const count = results.childElementCount;
      status.textContent = count === 0 ? "No messages found. Try fewer or different words."
        : count === 1 ? "1 message found." : `${count} messages found${more.hidden ? "" : " so far"}.`;
    } catch (err) {
      if (err.status === 0 || err.status >= 500) couldNotLoad(status, app, "The results", err, () => run(offset));
      else status.textContent = "The search did not work. Please try different words.";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ q: input.value.trim() });
    if (roomSelect.value) q.set("room", roomSelect.value);
    history.replaceState(null, "", `#/search?${q}`);
    run(0);
  });
  more.addEventListener("click", () => run(nextOffset));
  if (route.q) run(0);
  replace(more, "Show more results");
  return {};
}
