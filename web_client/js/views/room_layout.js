// The room page's layout: header, timeline with its composer, and the side column (thread,
// who is here, blocks, moderation). Built once per RoomView (room.js).

import { h } from "../dom.js";
import { composer } from "./composer.js";
import { Timeline } from "./timeline.js";

export function buildRoom(view) {
  document.title = "Room · Kindred";
  view.title = h("h1", {}, "Room");
  view.description = h("p", {});
  view.timeline = new Timeline(view);
  const listId = view.timeline.listId;
  view.box = composer({
    label: "Your message",
    onSend: (body) => view.outbox.send(body, null, view.box),
    onTyping: () => view.sendTyping(),
  });
  const writeLink = h("a", {
    href: "#", class: "write-link",
    onclick: (event) => { event.preventDefault(); view.box.textarea.focus(); },
  }, "Write a message");
  const timeline = h("section", { class: "timeline", "aria-labelledby": `${listId}-h` },
    h("h2", { id: `${listId}-h`, class: "visually-hidden" }, "Messages"),
    view.timeline.scroller, view.timeline.jump, view.people.typingLine, view.box.form);
  view.threadSlot = h("div");
  view.modSlot = h("div");
  view.conversationBox = h("div");
  view.side = h("div", { class: "room__side" },
    view.threadSlot, view.people.panel, view.blocks.panel, view.modSlot);
  view.layout = h("div", { class: "room__layout" }, timeline, view.side);
  // A private talk with a navigator, asked from here (views/talk.js); never for the room's own staff.
  view.talk = view.app.talk.panel(view.slug, () => view.staff);
  view.root = h("div", { class: "room" },
    h("header", { class: "room__header" },
      h("p", { class: "breadcrumb" }, view.private
        ? h("a", { href: "#/conversations" }, "All messages") : h("a", { href: "#/rooms" }, "All rooms")),
      view.title, view.description, view.talk.action, writeLink),
    view.conversationBox,
    view.notices.personalBox,
    view.talk.box,
    view.notices.resourcesBox,
    view.notices.roomBox,
    view.layout);
  view.main.appendChild(view.root);
}
