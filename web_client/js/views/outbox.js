// The outbox of one room: gets every message to the server exactly once and in the order it
// was written (protocol §5.2, §6). One send is in flight at a time; the next waits for its
// answer. A `rate_limited` or `slow_mode` refusal holds the whole queue for the wait the server
// gives (a client that waits as told is never disconnected for it). Every message is kept in
// the browser's storage until acknowledged, so closing the tab does not lose it; the same cid
// on every retry makes a resend of a message the server already has harmless.

import { newCid } from "../socket.js";
import { pendingStore } from "../pending.js";
import { renderPending } from "./messages.js";

const MARGIN_MS = 50; // a little past the server's wait, never before it
const ANSWER_WITHIN_MS = 30000;

function seconds(ms) {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s === 1 ? "1 second" : `${s} seconds`;
}

/**
 * hooks: {list(replyTo) -> <ol> to show a pending message in, onBlocked(code, frame),
 * joined() -> is the room joined on the open connection, me, box() -> the room's composer}.
 */
export class Outbox {
  constructor(room, conn, hooks) {
    this.room = room;
    this.conn = conn;
    this.hooks = hooks;
    this.pending = new Map(); // cid -> {frame, li, composer, tries, acked}; insertion = written order
    this.byId = new Map();    // acked message id -> cid, until the message itself arrives
    this.inFlight = null;     // the cid sent and not yet answered
    this.holdUntil = 0;       // Date.now() before which nothing is sent (rate limit, slow mode)
    this.holdTimer = null;
    this.timers = new Set();
    this.storageFailed = false;
  }

  /** Messages kept from an earlier visit (the tab was closed before they were sent). */
  restore() {
    for (const item of pendingStore.forRoom(this.hooks.me.id, this.room)) {
      const frame = { type: "send", room: this.room, body: item.body, cid: item.cid };
      if (item.reply_to) frame.reply_to = item.reply_to;
      if (item.confirm_phi) frame.confirm_phi = true;
      this.enqueue(frame, this.hooks.box());
    }
    this.pump();
  }

  send(body, replyTo, from, confirmPhi = false) {
    const frame = { type: "send", room: this.room, body, cid: newCid() };
    if (replyTo) frame.reply_to = replyTo;
    if (confirmPhi) frame.confirm_phi = true;
    const kept = pendingStore.put(this.hooks.me.id, { ...frame, type: undefined });
    if (!kept && !this.storageFailed) {
      this.storageFailed = true;
      from.status("This browser is not keeping unsent messages: if you close this page before they are sent, they are lost.");
    }
    this.enqueue(frame, from);
    if (this.said) from.status(this.said); // still holding: say so under the new message too
    this.pump();
    return true;
  }

  enqueue(frame, from) {
    const li = renderPending(frame.body, this.hooks.me, this.hooks.joined() ? "Sending…" : "Waiting to send…");
    this.hooks.list(frame.reply_to).appendChild(li);
    this.pending.set(frame.cid, { frame, li, composer: from, tries: 0, acked: false });
  }

  /** The oldest message the server has not acknowledged, if any. */
  next() {
    for (const entry of this.pending.values()) if (!entry.acked) return entry;
    return null;
  }

  /** Send the next message if nothing is in flight, the room is joined and no wait holds. */
  pump() {
    if (this.inFlight || !this.hooks.joined()) return;
    const entry = this.next();
    if (!entry) {
      this.say("");
      return;
    }
    const wait = this.holdUntil - Date.now();
    if (wait > 0) {
      if (!this.holdTimer) {
        this.holdTimer = setTimeout(() => {
          this.holdTimer = null;
          this.pump();
        }, wait);
      }
      return;
    }
    const cid = entry.frame.cid;
    this.inFlight = cid;
    entry.li.setStatus("Sending…");
    if (!this.conn.send(entry.frame)) {
      this.inFlight = null; // closed meanwhile: resent on join
      return;
    }
    // No answer on an open connection (it should not happen): send it again, same cid, so the
    // queue never stalls behind it.
    this.later(ANSWER_WITHIN_MS, () => {
      if (this.inFlight === cid) {
        this.inFlight = null;
        this.pump();
      }
    });
  }

  /** Hold the queue for ms; tell the member why, plainly, in the composer and on each message. */
  hold(ms, text, headStatus = "Waiting to send…") {
    this.holdUntil = Math.max(this.holdUntil, Date.now() + ms + MARGIN_MS);
    let first = true;
    for (const entry of this.pending.values()) {
      if (entry.acked) continue;
      entry.li.setStatus(first ? headStatus : "Waiting to send…");
      first = false;
    }
    this.say(text);
  }

  /** The composer's line about the queue ("" clears it); said once, not at every message. */
  say(text) {
    const box = this.hooks.box();
    if (!box || text === (this.said || "")) return;
    if (text || this.said) box.status(text);
    this.said = text;
  }

  /** After every (re)join: send again, in order, what the server has not acknowledged. */
  resend() {
    this.inFlight = null;
    this.pump();
  }

  /** The connection dropped: whatever was in flight is sent again after the next join. */
  waiting() {
    this.inFlight = null;
    for (const entry of this.pending.values()) if (!entry.acked) entry.li.setStatus("Waiting to send…");
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** A message arrived: if it is one of ours, drop its pending copy. */
  arrived(id) {
    const cid = this.byId.get(id);
    if (!cid) return;
    this.byId.delete(id);
    this.drop(cid);
  }

  drop(cid) {
    const entry = this.pending.get(cid);
    if (!entry) return;
    entry.li.remove();
    this.pending.delete(cid);
    pendingStore.remove(this.hooks.me.id, cid);
  }

  /** This cid's send is answered: the next one may go. */
  answered(cid) {
    if (this.inFlight === cid) this.inFlight = null;
    this.pump();
  }

  /** ack, error, confirm frames that carry a cid; true when it was one of ours. */
  handle(frame, alreadyShown) {
    const entry = this.pending.get(frame.cid);
    if (!entry) return false;
    const { composer: from } = entry;
    if (frame.type === "ack") {
      entry.acked = true;
      pendingStore.remove(this.hooks.me.id, frame.cid);
      // A duplicate: the server had it already (sent before the tab closed); it is in the
      // history or comes with the resume, so the pending copy can go now.
      if (alreadyShown(frame.id) || frame.duplicate) this.drop(frame.cid);
      else {
        this.byId.set(frame.id, frame.cid);
        entry.li.setStatus("Sent");
      }
      this.answered(frame.cid);
      return true;
    }
    if (frame.type === "confirm") {
      this.drop(frame.cid);
      from.showConfirm(frame.kinds || [], entry.frame.body,
        () => this.send(entry.frame.body, entry.frame.reply_to, from, true),
        () => from.restore(entry.frame.body));
      this.answered(frame.cid);
      return true;
    }
    // An error about this send.
    const giveBack = (text) => {
      this.drop(frame.cid);
      from.restore(entry.frame.body);
      from.status(text);
    };
    switch (frame.code) {
      case "rate_limited": {
        const ms = 1000 * (Number(frame.retry_after_s) || 2);
        this.hold(ms, "You are writing quickly, so your messages are sent one at a time, a moment apart. They are kept until they are sent.");
        break;
      }
      case "slow_mode": {
        const ms = 1000 * Math.max(1, Number(frame.retry_after_s) || 5);
        this.hold(ms, `Slow mode is on in this room: your next message goes in ${seconds(ms)}.`, `Slow mode: sending in ${seconds(ms)}…`);
        break;
      }
      case "unavailable":
      case "internal":
        entry.tries += 1;
        if (entry.tries > 5 || (frame.code === "internal" && entry.tries > 1)) {
          giveBack("Your message could not be sent. Please try again in a moment.");
        } else {
          entry.li.setStatus("Having trouble sending; trying again…");
          this.holdUntil = Math.max(this.holdUntil, Date.now() + 1000 * 2 ** entry.tries);
        }
        break;
      case "not_joined":
        entry.li.setStatus("Waiting to send…"); // resent once the room is joined again
        this.inFlight = null;
        return true;
      case "invalid_body":
        giveBack(frame.detail || "This message cannot be sent as it is.");
        break;
      case "muted":
      case "locked":
      case "banned":
      case "kicked":
      case "conversation_closed":
      case "request_pending":
        this.drop(frame.cid);
        from.restore(entry.frame.body);
        this.hooks.onBlocked(frame.code, frame);
        break;
      default:
        giveBack("Your message could not be sent. Please try again.");
    }
    this.answered(frame.cid);
    return true;
  }

  close() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }
}
