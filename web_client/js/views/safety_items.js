// What a safety-queue item or a navigator's alert is about, in plain words: a message in a
// room, or a question to the experts. An anonymous asker stays "a member" here as everywhere:
// seeing who asked is the host's audited "reveal", never a side effect of the queue.

import { h } from "../dom.js";
import { roomHash } from "../router.js";

/** Where a question is read and answered: the session's questions or the Ask the Expert topic. */
export function questionHash(q) {
  return q.event
    ? `#/event/${encodeURIComponent(q.event)}/questions`
    : `#/experts/${encodeURIComponent(q.topic)}`;
}

/** The headline of an alert frame or a queue item. */
export function alertWords(about) {
  if (about.question) {
    return about.kind === "crisis" ? "A question to the experts may be from someone in crisis" : "A question was reported";
  }
  return about.kind === "crisis" ? "A message may be from someone in crisis" : "A message was reported";
}

const PRIVATE_ROOM = /^dm-[0-9a-f]{16}$/;

/** The way from an alert frame to what it is about. A private conversation is never opened
 * by staff: its item in the safety queue shows the one message (and that view is recorded). */
export function alertLink(frame, onclick = null) {
  if (frame.question) return h("a", { href: questionHash(frame), onclick }, "Open the question");
  if (PRIVATE_ROOM.test(frame.room || "")) return h("a", { href: "#/safety", onclick }, "Open the safety queue");
  return h("a", { href: roomHash(frame.room, frame.message_id), onclick }, "Open the message");
}

function askedBy(author) {
  if (!author) return "someone";
  return author.anonymous ? "a member who chose not to show their name" : author.handle;
}

/** A queue item's subject: its words, who wrote them, the reporter; and the way there. */
export function itemDetails(item) {
  const q = item.question;
  if (q) {
    return {
      lines: [
        h("p", { class: "hint" }, "A question to the experts",
          q.title ? [" for “", q.title, "”"] : null,
          q.status === "pending" ? " (awaiting review)" : null),
        h("p", { class: "message__body" }, q.body === null || q.body === undefined ? "(no longer available)" : q.body),
        h("p", { class: "hint" }, "Asked by ", askedBy(q.author),
          item.reporter ? ["; reported by ", item.reporter.handle] : null,
          item.reason ? ["; reason: ", item.reason] : null),
      ],
      link: q.event || q.topic ? h("a", { href: questionHash(q) }, "Open the question") : null,
    };
  }
  const m = item.message || {};
  return {
    lines: [
      item.private ? h("p", { class: "hint" }, "A private message. Only this message is shown, as it was then; your viewing it is recorded in the audit log.") : null,
      h("p", { class: "message__body" }, m.removed || m.body === null ? "(removed)" : m.body || ""),
      h("p", { class: "hint" }, "From ", m.author ? m.author.handle : "someone",
        item.reporter ? ["; reported by ", item.reporter.handle] : null,
        item.reason ? ["; reason: ", item.reason] : null),
    ],
    link: m.id && item.room && !item.private ? h("a", { href: roomHash(item.room, m.id) }, "Open the message") : null,
  };
}
