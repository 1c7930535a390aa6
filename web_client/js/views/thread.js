// A thread: its first message and every reply, live, with a reply box.

import { api } from "../api.js";
import { h, replace, uid, focusOn } from "../dom.js";
import { renderMessage } from "./messages.js";
import { composer } from "./composer.js";
import { couldNotLoad } from "../retry.js";

export class ThreadPanel {
  /**
   * room: the RoomView (for ctx, outbox, typing); id: any message of the thread;
   * replyTo: the message the member chose to answer, if any.
   */
  constructor(room, id, replyTo) {
    this.room = room;
    this.requested = id;
    this.root = null;
    this.replyTo = replyTo || null;
    this.ids = new Set();
    const headingId = uid("thread");
    this.heading = h("h2", { id: headingId, tabindex: "-1" }, "Thread");
    this.list = h("ol", { class: "message-list", "aria-labelledby": headingId });
    this.replyingTo = h("p", { class: "hint" });
    this.box = composer({
      label: "Your reply",
      submitLabel: "Send reply",
      onSend: (body) => room.outbox.send(body, this.replyTarget(), this.box),
      onTyping: () => room.sendTyping(),
    });
    this.closeButton = h("button", {
      type: "button", class: "button button--quiet button--small",
      onclick: () => room.closeThread(),
    }, "Back to the room");
    this.section = h("section", {
      class: "panel thread", "aria-labelledby": headingId,
      onkeydown: (event) => {
        // Escape closes the thread, unless it would throw away a reply being written.
        const writing = event.target.tagName === "TEXTAREA" && event.target.value.trim();
        if (event.key === "Escape" && !writing) room.closeThread();
      },
    },
      h("div", { class: "thread__header" }, this.heading, this.closeButton),
      h("div", { class: "loading" }, "Loading the thread…"),
      this.list,
      this.replyingTo,
      this.box.form);
  }

  replyTarget() {
    return (this.replyTo && this.replyTo.id) || this.root;
  }

  async load() {
    const loading = this.section.querySelector(".loading");
    try {
      const data = await api.thread(this.requested);
      this.root = data.root;
      loading.remove();
      for (const m of data.messages) this.add(m);
      // Messages that arrived live while the thread was loading.
      for (const m of this.room.messages.values()) {
        if (m.id === this.root || m.thread_root === this.root) this.add(m);
      }
      const first = data.messages[0];
      this.heading.textContent = first && first.author && first.id === this.root
        ? `Thread started by ${first.author.handle}` : "Thread";
      this.showReplyingTo();
    } catch (err) {
      if (err.status === 404) replace(loading, "This thread could not be found.");
      else couldNotLoad(loading, this.room.app, "The thread", err, () => this.load());
    }
  }

  showReplyingTo() {
    const target = this.replyTo;
    this.replyingTo.textContent = target && target.id !== this.root && target.author
      ? `Replying to ${target.author.handle}.` : "";
  }

  belongs(msg) {
    return this.root && (msg.id === this.root || msg.thread_root === this.root);
  }

  /** Add a message in seq order (ignoring one already shown). */
  add(msg) {
    if (this.ids.has(msg.id)) return;
    this.ids.add(msg.id);
    const li = renderMessage(msg, { ...this.room.messageCtx(), inThread: true });
    const after = [...this.list.children].reverse().find((el) => Number(el.dataset.seq) < msg.seq);
    if (after) after.after(li);
    else this.list.prepend(li);
  }

  /** A message was removed: show it as removed, in its place. */
  update(msg) {
    const old = this.list.querySelector(`li[data-id="${msg.id}"]`);
    if (old) old.replaceWith(renderMessage(msg, { ...this.room.messageCtx(), inThread: true }));
  }

  hide(authorId) {
    for (const li of [...this.list.children]) {
      const m = this.room.messages.get(li.dataset.id);
      if (m && m.author && m.author.id === authorId) li.remove();
    }
  }

  focus() {
    focusOn(this.heading);
  }
}
