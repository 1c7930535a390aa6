// The room's message list: history pages, live messages in seq order, thread links on roots,
// "show earlier messages" and "new messages below". The room keeps the messages; this shows them.

import { api } from "../api.js";
import { h, uid, focusOn } from "../dom.js";
import { renderMessage } from "./messages.js";
import { threadButton } from "./actions.js";

export const PAGE = 50;
const NEAR_BOTTOM_PX = 80;

export class Timeline {
  /** room: the RoomView (messages, replies, store(), messageCtx(), slug). */
  constructor(room) {
    this.room = room;
    this.items = new Map();   // message id -> its <li>
    this.nextBefore = null;   // the history API's cursor for the next older page
    this.listId = uid("messages");
    this.olderButton = h("button", { type: "button", class: "button button--quiet", hidden: true, onclick: () => this.loadOlder() }, "Show earlier messages");
    this.historyNote = h("p", { class: "hint", role: "status" });
    this.list = h("ol", { class: "message-list", id: this.listId, "aria-label": "Messages" });
    // The page itself scrolls (no box scrolling inside it): nothing is cut off at the top, and
    // a message's menu is never clipped.
    this.scroller = h("div", { class: "message-scroll", role: "region", "aria-label": "Messages in this room" },
      h("div", { class: "history-controls" }, this.olderButton, this.historyNote),
      this.list);
    this.jump = h("div", { class: "jump", hidden: true },
      h("button", { type: "button", class: "button button--small", onclick: () => this.scrollToEnd(true) }, "New messages below"));
    const onScroll = () => {
      if (!this.scroller.isConnected) window.removeEventListener("scroll", onScroll);
      else if (this.nearBottom()) this.jump.hidden = true;
    };
    window.addEventListener("scroll", onScroll, { passive: true });
  }

  itemFor(id) {
    return this.items.get(id) || null;
  }

  /** Put a message's item in seq order: nearly always at the end, so search from there. */
  place(li, seq) {
    let el = this.list.lastElementChild;
    while (el && !(el.dataset.seq && Number(el.dataset.seq) < seq)) el = el.previousElementSibling;
    if (el) el.after(li);
    else this.list.prepend(li);
  }

  dropItem(id) {
    const li = this.items.get(id);
    if (li) li.remove();
    this.items.delete(id);
  }

  /** Roots and ordinary messages are shown; a reply only if its root is not. */
  show(msg) {
    if (this.itemFor(msg.id)) return;
    if (msg.thread_root && this.itemFor(msg.thread_root)) {
      this.refreshThreadLink(msg.thread_root);
      return;
    }
    const li = renderMessage(msg, this.room.messageCtx());
    this.place(li, msg.seq);
    this.items.set(msg.id, li);
    // An older page brought in a root: its replies shown on their own now live under it.
    if (!msg.thread_root) {
      for (const replyId of this.room.replies.get(msg.id) || []) this.dropItem(replyId);
      this.refreshThreadLink(msg.id);
    }
  }

  /** A notice in the list itself (a gap in the messages). */
  note(...content) {
    this.list.appendChild(h("li", { class: "notice notice--warn" }, ...content));
  }

  refreshThreadLink(rootId) {
    const li = this.itemFor(rootId);
    const msg = this.room.messages.get(rootId);
    if (!li || !msg) return;
    const old = li.querySelector(".thread-link");
    const fresh = threadButton(msg, this.room.messageCtx());
    if (old && fresh) old.replaceWith(fresh);
    else if (!old && fresh) {
      const actions = li.querySelector(".message__actions");
      if (actions) actions.firstElementChild.after(fresh);
      else li.appendChild(h("div", { class: "message__actions" }, fresh));
    }
  }

  /** Draw a message again (removed, or the viewer became staff). An item holding the focus is left alone (a reaction count must
   * not pull the focus from under a reader), unless `evenFocused`: a removal must not leave
   * the body on screen, so the item is redrawn and the focus goes to the fresh one. */
  rerender(id, evenFocused = false) {
    const msg = this.room.messages.get(id);
    const li = this.itemFor(id);
    if (!msg || !li) return;
    const focused = li.contains(document.activeElement);
    if (focused && !evenFocused) return;
    const fresh = renderMessage(msg, this.room.messageCtx());
    li.replaceWith(fresh);
    this.items.set(id, fresh);
    if (focused) focusOn(fresh);
  }

  rerenderAll() {
    for (const id of [...this.items.keys()]) this.rerender(id);
  }

  /** The end of the list is on screen (or nearly). */
  nearBottom() {
    return this.list.getBoundingClientRect().bottom - window.innerHeight < NEAR_BOTTOM_PX;
  }

  /** Scroll the page so the newest message and the message box below it are in view. */
  scrollToEnd(focusLast) {
    const page = document.scrollingElement;
    const composer = this.scroller.parentElement && this.scroller.parentElement.querySelector(".composer");
    const below = composer ? composer.getBoundingClientRect().bottom : this.list.getBoundingClientRect().bottom;
    page.scrollTop += Math.max(0, below - window.innerHeight + 16);
    this.jump.hidden = true;
    if (focusLast) focusOn(this.list.lastElementChild);
  }

  /** A new message arrived: follow it if the reader was at the end, or offer to jump. */
  arrived(follow) {
    if (follow) this.scrollToEnd(false);
    else this.jump.hidden = false;
  }

  startWords() {
    return this.room.private ? "This is the start of the conversation." : "This is the start of the room's history.";
  }

  updateOlder() {
    this.olderButton.hidden = !this.nextBefore;
    if (!this.nextBefore) {
      this.historyNote.textContent = this.room.messages.size ? this.startWords() : "No messages yet. You could say hello.";
    } else {
      this.historyNote.textContent = "";
    }
  }

  async loadOlder() {
    if (!this.nextBefore) return;
    this.olderButton.disabled = true;
    const before = this.list.getBoundingClientRect().height;
    try {
      const page = await api.messages(this.room.slug, this.nextBefore, PAGE);
      const oldestFirst = [...page.messages].reverse().filter((m) => !this.room.messages.has(m.id));
      for (const m of oldestFirst) this.room.store(m);
      for (const m of oldestFirst) this.show(m);
      this.nextBefore = page.next_before;
      // Keep what the reader was looking at in place.
      document.scrollingElement.scrollTop += this.list.getBoundingClientRect().height - before;
      this.historyNote.textContent = oldestFirst.length === 1 ? "1 earlier message shown." : `${oldestFirst.length} earlier messages shown.`;
      if (!this.nextBefore) this.olderButton.hidden = true;
      if (!this.nextBefore) this.historyNote.textContent += ` ${this.startWords()}`;
    } catch {
      this.historyNote.textContent = "Earlier messages could not be loaded. Please try again.";
    } finally {
      this.olderButton.disabled = false;
      if (!this.olderButton.hidden) this.olderButton.focus();
    }
  }
}
