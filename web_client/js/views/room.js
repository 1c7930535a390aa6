// A live room: history, live messages (deduplicated by id and seq), threads, who is here,
// typing, the composer, and what navigators and members can do about a message.

import { api } from "../api.js";
import { applyReactions, loadReactionSet } from "./reactions.js";
import { h, replace, announce } from "../dom.js";
import { roomHash } from "../router.js";
import { couldNotLoad } from "../retry.js";
import { newCid } from "../socket.js";
import { Outbox } from "./outbox.js";
import { PAGE } from "./timeline.js";
import { People } from "./people.js";
import { Notices } from "./notices.js";
import { ThreadPanel } from "./thread.js";
import { ModerationPanel } from "./moderation.js";
import { buildRoom } from "./room_layout.js";
import { globalFrame, roomFrame } from "./room_frames.js";
import { BlockList } from "./blocks.js";
import { isConversationRoom } from "./conversations.js";
import { conversationAsRoom, conversationChanged, conversationRefused, conversationState } from "./conversation_room.js";

const STAFF_ROLES = new Set(["navigator", "org_admin", "admin"]);

export class RoomView {
  constructor(main, app, route) {
    this.main = main;
    this.app = app;
    this.slug = route.slug;
    this.me = app.user;
    this.conn = app.conn;
    this.messages = new Map();  // id -> message
    this.bySeq = new Map();     // seq -> id
    this.lastSeq = null;        // highest seq held; null until the first page is in
    this.replies = new Map();   // thread root id -> Set of reply ids
    this.replayUntil = 0;       // seqs up to this one are a resume's replay, not news
    this.replayed = 0;
    this.staff = false;
    this.pendingModeration = new Map(); // cid -> {resolve, reject}
    this.thread = null;
    this.closed = false;
    this.private = isConversationRoom(this.slug); // a private conversation (conversation_room.js)
    this.conversation = null;
    this.people = new People(this.me, (after) => this.joined &&
      this.conn.send(after ? { type: "members", room: this.slug, after } : { type: "members", room: this.slug }));
    this.notices = new Notices();
    this.blocks = new BlockList(this);
    this.outbox = new Outbox(this.slug, this.conn, {
      me: this.me,
      list: (replyTo) => (this.thread && replyTo ? this.thread.list : this.timeline.list),
      onBlocked: (code, frame) => this.blockedBySend(code, frame),
      joined: () => this.joined && this.conn.isOpen,
      box: () => this.box,
    });
    this.joined = false;        // joined on the current connection (false again when it drops)
    this.onConnFrame = (event) => this.globalFrame(event.detail);
    this.onConnState = (event) => this.connState(event.detail.state);
    this.conn.addEventListener("frame", this.onConnFrame);
    this.conn.addEventListener("state", this.onConnState);
    buildRoom(this);
    this.start(route);
  }

  // ------------------------------------------------------------------ start-up

  async start(route) {
    try {
      // A private conversation has no community: its page says who is in it (conversation_room.js).
      const community = this.private ? await conversationAsRoom(this) : await api.community(this.slug);
      if (this.closed) return;
      this.community = community;
      this.title.textContent = community.name;
      this.description.textContent = community.description || "";
      document.title = `${community.name} · Kindred`;
      this.box.textarea.closest("form").querySelector("label").textContent = community.composerLabel || `Your message to ${community.name}`;
      this.composerState();
    } catch (err) {
      if (this.closed) return;
      if (err.status === 404) this.fail(this.notFound());
      else couldNotLoad(this.layout, this.app, "This room", err, () => this.reload());
      return;
    }
    const c = this.conversation;
    if (c && c.state === "request" && c.requested_by !== this.me.id) return; // to answer first
    if (!this.private) this.checkStaff(); // nobody moderates a private conversation
    this.blocks.load();
    try {
      await loadReactionSet().catch(() => null); // without it, messages show no reaction buttons
      const page = await api.messages(this.slug, null, PAGE);
      if (this.closed) return;
      const oldestFirst = [...page.messages].reverse();
      for (const m of oldestFirst) this.store(m);
      this.lastSeq = oldestFirst.length ? oldestFirst[oldestFirst.length - 1].seq : 0;
      this.timeline.nextBefore = page.next_before;
      for (const m of oldestFirst) this.timeline.show(m);
      this.timeline.updateOlder();
      this.outbox.restore(); // written on an earlier visit and not yet sent
      this.timeline.scrollToEnd(false);
    } catch (err) {
      if (this.closed) return;
      if (err.status === 403 && (err.code === "kicked" || err.code === "banned")) {
        // Kept out of the room for now: say so, kindly, with until when and why.
        this.leaveBecause(err.code, err.data.until, err.data.reason || null);
        return;
      }
      couldNotLoad(this.layout, this.app, "The messages", err, () => this.reload());
      return;
    }
    // Now live: join with since = the newest seq we hold; the server replays anything newer.
    this.conn.track(this.slug, {
      since: () => this.lastSeq,
      onFrame: (frame) => this.roomFrame(frame),
    });
    this.update(this.route || route);
  }

  fail(text) {
    replace(this.layout, h("div", { class: "notice notice--danger", role: "alert" },
      h("p", {}, text), h("p", {}, this.private
        ? h("a", { href: "#/conversations" }, "Back to your messages")
        : h("a", { href: "#/rooms" }, "Back to the list of rooms"))));
  }

  notFound() {
    return this.private ? "This conversation does not exist, or it is not yours."
      : "This room does not exist, or it is not open to you.";
  }

  async checkStaff() {
    if (!STAFF_ROLES.has(this.me.role)) return;
    try {
      const data = await api.get(`/api/rooms/${encodeURIComponent(this.slug)}/moderation`);
      if (this.closed) return;
      this.staff = true;
      this.talk.render();
      this.moderation = new ModerationPanel(this, data);
      replace(this.modSlot, this.moderation.panel);
      this.timeline.rerenderAll();
    } catch {
      // Not staff of this room (403), or moderation is not available: a plain member view.
    }
  }

  /** Route changes inside the room: open or close a thread. */
  update(route) {
    this.route = route;
    if (this.lastSeq === null) return; // start() calls again once the room is in
    if (route.thread) this.openThread(route.thread);
    else if (this.thread) this.removeThread();
  }

  /** Frames for the member, not the room (app.js): a change to this conversation. */
  frame(frame) {
    if (this.private) conversationChanged(this, frame);
  }

  cleanup() {
    this.closed = true;
    this.conn.removeEventListener("frame", this.onConnFrame);
    this.conn.removeEventListener("state", this.onConnState);
    this.conn.untrack(this.slug);
    this.people.close();
    this.talk.close();
    this.outbox.close();
    if (this.moderation) this.moderation.close();
  }

  // ------------------------------------------------------------------ the model

  store(msg) {
    this.messages.set(msg.id, msg);
    if (msg.seq) this.bySeq.set(msg.seq, msg.id);
    if (msg.thread_root) {
      if (!this.replies.has(msg.thread_root)) this.replies.set(msg.thread_root, new Set());
      this.replies.get(msg.thread_root).add(msg.id);
    }
  }

  replyCount(rootId) {
    const set = this.replies.get(rootId);
    return set ? set.size : 0;
  }

  messageCtx() {
    return {
      me: this.me,
      room: this.slug,
      private: this.private,
      staff: this.staff,
      replyCount: (id) => this.replyCount(id),
      onReply: (msg) => this.reply(msg),
      onOpenThread: (id) => this.app.navigate(roomHash(this.slug, id)),
      report: (msg, reason) => api.post(`/api/messages/${encodeURIComponent(msg.id)}/report`, { reason }),
      block: (author) => this.blocks.block(author),
      moderate: (frame) => this.moderate(frame),
      react: (msg, name, on) => this.react(msg, name, on),
    };
  }

  async react(msg, name, on) {
    try {
      const summary = await api.post(`/api/rooms/${encodeURIComponent(this.slug)}/reactions`, { message: msg.id, reaction: name, on });
      applyReactions(this.messages.get(msg.id), summary, this.layout, this.me);
    } catch {
      announce("Your reaction could not be saved. Please try again.");
    }
  }

  // ------------------------------------------------------------------ frames

  roomFrame(frame) {
    roomFrame(this, frame);
  }

  /** Frames for any room or none: moderation answers, duty, alerts. */
  globalFrame(frame) {
    globalFrame(this, frame);
  }

  connState(state) {
    if (state !== "open") this.joined = false;
    if (state === "reconnecting") this.outbox.waiting();
  }

  message(frame) {
    if (this.messages.has(frame.id) && this.timeline.itemFor(frame.id)) {
      this.outbox.arrived(frame.id);
      return; // a repeat (replay overlapping what we hold): nothing shows twice
    }
    if (this.lastSeq !== null && frame.seq <= this.lastSeq && this.bySeq.has(frame.seq)) return;
    const follow = this.timeline.nearBottom();
    this.store(frame);
    this.lastSeq = Math.max(this.lastSeq || 0, frame.seq);
    this.outbox.arrived(frame.id);
    this.timeline.show(frame);
    if (this.messages.size === 1) this.timeline.updateOlder();
    if (this.thread && this.thread.belongs(frame)) this.thread.add(frame);
    if (frame.author) this.people.spoke(frame.author.id);
    const mine = frame.author && frame.author.id === this.me.id;
    if (frame.seq <= this.replayUntil) {
      if (!mine) this.replayed += 1;
      if (frame.seq === this.replayUntil && this.replayed > 0) {
        announce(this.replayed === 1 ? "1 new message arrived while you were away." : `${this.replayed} new messages arrived while you were away.`);
      }
    } else if (!mine && frame.body) {
      const who = frame.author ? frame.author.handle : "Someone";
      announce(frame.thread_root ? `${who} replied in a thread: ${frame.body}` : `${who}: ${frame.body}`);
    }
    this.timeline.arrived(follow || mine);
  }

  /** A navigator removed a message; its author (only) is also told why. */
  removed(id, reason) {
    const msg = this.messages.get(id);
    if (!msg) return;
    msg.body = null;
    msg.removed = true;
    if (reason) msg.removed_reason = reason;
    this.timeline.rerender(id, true);
    if (this.thread) this.thread.update(msg);
    announce(reason ? `A navigator removed your message. The reason given: ${reason}` : "A navigator removed a message.");
  }

  error(frame) {
    if (frame.cid && this.outbox.handle(frame, (id) => this.messages.has(id))) return;
    if (frame.code === "kicked" || frame.code === "banned") {
      // The error says until when, not why (the reason came with the kicked/banned frame).
      this.leaveBecause(frame.code, frame.until, null);
    } else if (frame.code === "request_pending" || frame.code === "conversation_closed") {
      this.conn.untrack(this.slug);
      conversationRefused(this);
    } else if (frame.code === "no_such_room") {
      this.fail(this.notFound());
      this.conn.untrack(this.slug);
    } else if (frame.code === "unavailable" && !frame.cid) {
      setTimeout(() => !this.closed && this.conn.track(this.slug, { since: () => this.lastSeq, onFrame: (f) => this.roomFrame(f) }), 2000);
    }
  }

  blockedBySend(code, frame) {
    if (code === "muted") this.notices.restricted("muted", frame.until, this.notices.reasonFor("muted"));
    if (code === "kicked" || code === "banned") this.leaveBecause(code, frame.until, null);
    if (code === "locked") this.notices.roomState({ ...this.notices.state, locked: true });
    if (code === "conversation_closed" || code === "request_pending") {
      conversationRefused(this);
      return;
    }
    this.composerState();
  }

  leaveBecause(kind, until, reason) {
    this.conn.untrack(this.slug);
    this.joined = false;
    this.notices.restricted(kind, until, reason);
    this.composerState();
    announce(kind === "kicked" ? `A navigator asked you to step out of this room. ${reason ? `Reason: ${reason}` : ""}` : "You can no longer take part in this room.");
  }

  composerState() {
    const reason = this.notices.blockedReason(this.staff) || conversationState(this, this.conversationBox);
    this.box.setBlocked(reason);
    if (this.thread) this.thread.box.setBlocked(reason);
  }

  sendTyping() {
    if (this.joined) this.conn.send({ type: "typing", room: this.slug });
  }

  reload() {
    this.app.view = null;
    this.cleanup();
    this.main.replaceChildren();
    this.app.navigate(location.hash);
  }

  // ------------------------------------------------------------------ threads

  reply(msg) {
    this.replyTarget = msg;
    const root = msg.thread_root || msg.id;
    if (this.thread && this.thread.root === root) {
      this.thread.replyTo = msg;
      this.thread.showReplyingTo();
      this.thread.box.textarea.focus();
      return;
    }
    this.app.navigate(roomHash(this.slug, root));
  }

  async openThread(id) {
    if (this.thread && (this.thread.requested === id || this.thread.root === id)) return;
    this.removeThread();
    const target = this.replyTarget && (this.replyTarget.id === id || this.replyTarget.thread_root === id) ? this.replyTarget : null;
    this.replyTarget = null;
    this.thread = new ThreadPanel(this, id, target);
    this.layout.classList.add("room__layout--thread");
    this.root.classList.add("room--thread-open");
    replace(this.threadSlot, this.thread.section);
    this.composerState();
    await this.thread.load();
    if (target) this.thread.box.textarea.focus();
    else this.thread.focus();
  }

  closeThread() {
    this.app.navigate(roomHash(this.slug));
  }

  removeThread() {
    if (!this.thread) return;
    const root = this.thread.root;
    this.thread = null;
    this.threadSlot.replaceChildren();
    this.layout.classList.remove("room__layout--thread");
    this.root.classList.remove("room--thread-open");
    const rootItem = root ? this.timeline.itemFor(root) : null;
    const link = rootItem ? rootItem.querySelector(".thread-link") : null;
    if (link) link.focus();
    else this.box.textarea.focus();
  }

  // ------------------------------------------------------------------ moderation

  /** Send a moderate frame; resolves with `moderated`, rejects with a readable error. */
  moderate(fields) {
    const cid = newCid();
    return new Promise((resolve, reject) => {
      this.pendingModeration.set(cid, { resolve, reject });
      if (!this.conn.send({ type: "moderate", room: this.slug, cid, ...fields })) {
        this.pendingModeration.delete(cid);
        reject(new Error("Not connected right now. Please try again in a moment."));
      }
    });
  }

  /** Hide a blocked member's messages from this page. */
  hideAuthor(authorId) {
    for (const [id, m] of this.messages) {
      if (m.author && m.author.id === authorId) this.timeline.dropItem(id);
    }
    if (this.thread) this.thread.hide(authorId);
  }
}
