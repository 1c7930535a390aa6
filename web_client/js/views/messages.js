// One message as a list item: author, role badge, time, text (always as text), and its actions.

import { h, roleBadge, timeElement, uid } from "../dom.js";
import { messageActions, threadButton } from "./actions.js";
import { reactionBar } from "./reactions.js";
import { personHash } from "../router.js";

export const REMOVED_TEXT = "This message was removed by a navigator.";

/**
 * msg: a message frame or a history message. ctx: {me, room, staff, replyCount(id), onReply,
 * onOpenThread, report, block, moderate, inThread}. Returns an <li> with data-id and data-seq.
 */
export function renderMessage(msg, ctx) {
  const mine = ctx.me && msg.author && msg.author.id === ctx.me.id;
  const removed = msg.removed || msg.body === null || msg.body === undefined;
  const authorId = uid("author");
  const li = h("li", {
    class: `message${mine ? " message--mine" : ""}${removed ? " message--removed" : ""}${msg.thread_root ? " message--reply" : ""}`,
    "data-id": msg.id,
    "data-seq": msg.seq,
    "aria-labelledby": authorId,
  });
  const meta = h("p", { class: "message__meta" },
    msg.author
      ? h("a", { class: "message__author", id: authorId, href: personHash(msg.author.id) }, msg.author.handle)
      : h("span", { class: "message__author", id: authorId }, "Someone"),
    msg.author ? roleBadge(msg.author.role) : null,
    mine ? h("span", { class: "message__status" }, "(you)") : null,
    msg.ts ? timeElement(msg.ts) : null,
  );
  li.appendChild(meta);
  if (msg.thread_root && !ctx.inThread) {
    li.appendChild(h("p", { class: "message__context" }, "Reply in a thread"));
  }
  li.appendChild(h("p", { class: "message__body" }, removed ? REMOVED_TEXT : msg.body));
  if (removed && msg.removed_reason) {
    li.appendChild(h("p", { class: "message__context" }, "The reason given: ", h("q", {}, msg.removed_reason)));
  }
  if (!removed && ctx.react) {
    const bar = reactionBar(msg, ctx);
    if (bar) li.appendChild(bar);
  }
  if (!removed) li.appendChild(messageActions(msg, { ...ctx, mine }));
  else if (!ctx.inThread && ctx.replyCount && ctx.replyCount(msg.id) > 0) {
    li.appendChild(h("div", { class: "message__actions" }, threadButton(msg, ctx)));
  }
  return li;
}

/** A pending message of mine, shown until the server has it. */
export function renderPending(body, me, statusText) {
  const status = h("span", { class: "message__status" }, statusText);
  const li = h("li", { class: "message message--mine message--pending" },
    h("p", { class: "message__meta" },
      h("span", { class: "message__author" }, me.handle), roleBadge(me.role), status),
    h("p", { class: "message__body" }, body));
  li.setStatus = (text) => { status.textContent = text; };
  return li;
}
