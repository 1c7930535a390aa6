// Writing a message: the form, and the outbox that gets every message to the server exactly once
// (same cid on every retry, resent after a reconnect) and explains any hold-up in plain words.

import { h, uid, codePoints, focusOn, replace } from "../dom.js";
import { newCid } from "../socket.js";
import { renderPending } from "./messages.js";

const MAX_CHARS = 4000;
const TYPING_EVERY_MS = 3000;

const PHI_WORDS = {
  phone: "a phone number",
  email: "an email address",
  address: "a street address",
  birth_date: "a date of birth",
};

function listWords(kinds) {
  const words = kinds.map((k) => PHI_WORDS[k] || "personal details");
  if (words.length <= 1) return words[0] || "personal details";
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/**
 * The form. opts: {label, hint, submitLabel, onSend(body) -> boolean, onTyping()}.
 * Returns {form, textarea, status(text), setBlocked(text|null), showConfirm(...), restore(body)}.
 */
export function composer(opts) {
  const id = uid("composer");
  const hintId = `${id}-hint`;
  const statusEl = h("p", { class: "composer__status", role: "status" });
  const textarea = h("textarea", {
    id, name: "body", rows: 3, "aria-describedby": `${hintId} ${id}-status`,
    autocomplete: "off", spellcheck: "true",
  });
  statusEl.id = `${id}-status`;
  const send = h("button", { type: "submit", class: "button" }, opts.submitLabel || "Send");
  const dialogSlot = h("div");
  const form = h("form", { class: "composer", novalidate: true },
    h("label", { for: id, class: "label" }, opts.label),
    h("span", { class: "hint", id: hintId }, opts.hint || "Press Enter to send, Shift and Enter for a new line."),
    textarea,
    h("div", { class: "actions" }, send),
    dialogSlot,
    statusEl,
  );
  let lastTyping = 0;
  let blocked = null;

  function submit() {
    if (blocked) {
      statusEl.textContent = blocked;
      return;
    }
    const body = textarea.value.replace(/\s+$/u, "");
    if (!body.trim()) {
      statusEl.textContent = "Write something first.";
      return;
    }
    if (body.includes("\u0000")) {
      statusEl.textContent = "This message contains a character that cannot be sent.";
      return;
    }
    if (codePoints(body) > MAX_CHARS) {
      statusEl.textContent = `This message is too long: at most ${MAX_CHARS} characters, it has ${codePoints(body)}.`;
      return;
    }
    if (opts.onSend(body)) {
      textarea.value = "";
      statusEl.textContent = "";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener("input", () => {
    const now = Date.now();
    if (opts.onTyping && textarea.value.trim() && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      opts.onTyping();
    }
  });

  return {
    form,
    textarea,
    status(text) {
      statusEl.textContent = text || "";
    },
    /** A reason the member cannot post now (muted, locked…), or null when they can. */
    setBlocked(reason) {
      blocked = reason;
      textarea.disabled = !!reason;
      send.disabled = !!reason;
      statusEl.textContent = reason || "";
    },
    restore(body) {
      if (!textarea.value) textarea.value = body;
      textarea.focus();
    },
    /** The kind question when a message seems to hold personal details (protocol §4.10). */
    showConfirm(kinds, body, onPost, onEdit) {
      const titleId = uid("phi");
      const box = h("div", { class: "dialog", role: "group", "aria-labelledby": titleId },
        h("h3", { id: titleId, tabindex: "-1" }, "Before you post"),
        h("p", {}, `This message seems to include ${listWords(kinds)}. Everyone in this room can read it, and it stays in the room's history.`),
        h("blockquote", { class: "dialog__quote" }, body),
        h("p", {}, "If you would rather keep it private, you can edit the message first."),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button", onclick: () => { dialogSlot.replaceChildren(); onEdit(); } }, "Edit my message"),
          h("button", { type: "button", class: "button button--quiet", onclick: () => { dialogSlot.replaceChildren(); onPost(); textarea.focus(); } }, "Post it anyway")));
      replace(dialogSlot, box);
      focusOn(box.querySelector("h3"));
    },
  };
}

/**
 * Sends of one room. hooks: {list(replyTo) -> <ol> to show the pending message in,
 * onBlocked(code, frame), joined() -> is the room joined on the open connection, me}.
 */
export class Outbox {
  constructor(room, conn, hooks) {
    this.room = room;
    this.conn = conn;
    this.hooks = hooks;
    this.pending = new Map(); // cid -> {frame, li, composer, tries}
    this.byId = new Map();    // acked message id -> cid, until the message itself arrives
    this.timers = new Set();
  }

  send(body, replyTo, from, confirmPhi = false) {
    const frame = { type: "send", room: this.room, body, cid: newCid() };
    if (replyTo) frame.reply_to = replyTo;
    if (confirmPhi) frame.confirm_phi = true;
    const li = renderPending(body, this.hooks.me, this.hooks.joined() ? "Sending…" : "Waiting to send…");
    this.hooks.list(replyTo).appendChild(li);
    this.pending.set(frame.cid, { frame, li, composer: from, tries: 0 });
    this.transmit(frame);
    return true;
  }

  /** Send only into a joined room (a send before the join would be refused as a strike);
   * whatever waits is sent again on the next `joined`. */
  transmit(frame) {
    if (this.hooks.joined()) this.conn.send(frame);
  }

  /** After every (re)join: send again what the server has not acknowledged (same cid). */
  resend() {
    for (const entry of this.pending.values()) {
      if (entry.acked) continue;
      entry.li.setStatus("Sending…");
      this.transmit(entry.frame);
    }
  }

  /** The connection dropped: say so on every message not yet acknowledged. */
  waiting() {
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
  }

  /** ack, error, confirm frames that carry a cid; true when it was one of ours. */
  handle(frame, alreadyShown) {
    const entry = this.pending.get(frame.cid);
    if (!entry) return false;
    const { composer: from } = entry;
    if (frame.type === "ack") {
      entry.acked = true;
      if (alreadyShown(frame.id)) this.drop(frame.cid);
      else {
        this.byId.set(frame.id, frame.cid);
        entry.li.setStatus("Sent");
      }
      return true;
    }
    if (frame.type === "confirm") {
      this.drop(frame.cid);
      from.showConfirm(frame.kinds || [], entry.frame.body,
        () => this.send(entry.frame.body, entry.frame.reply_to, from, true),
        () => from.restore(entry.frame.body));
      return true;
    }
    // An error about this send.
    const giveBack = (text) => {
      this.drop(frame.cid);
      from.restore(entry.frame.body);
      from.status(text);
    };
    switch (frame.code) {
      case "rate_limited":
        entry.li.setStatus("Sending in a moment…");
        this.later(2500, () => this.transmit(entry.frame));
        break;
      case "slow_mode": {
        const wait = Math.max(1, Math.ceil(Number(frame.retry_after_s) || 5));
        entry.li.setStatus(`Slow mode: sending in ${wait} seconds…`);
        this.later(wait * 1000, () => this.transmit(entry.frame));
        break;
      }
      case "unavailable":
      case "internal":
        entry.tries += 1;
        if (entry.tries > 5 || (frame.code === "internal" && entry.tries > 1)) {
          giveBack("Your message could not be sent. Please try again in a moment.");
        } else {
          entry.li.setStatus("Having trouble sending; trying again…");
          this.later(1000 * 2 ** entry.tries, () => this.transmit(entry.frame));
        }
        break;
      case "not_joined":
        entry.li.setStatus("Waiting to send…"); // resent once the room is joined again
        break;
      case "invalid_body":
        giveBack(frame.detail || "This message cannot be sent as it is.");
        break;
      case "muted":
      case "locked":
      case "banned":
      case "kicked":
        this.drop(frame.cid);
        from.restore(entry.frame.body);
        this.hooks.onBlocked(frame.code, frame);
        break;
      default:
        giveBack("Your message could not be sent. Please try again.");
    }
    return true;
  }

  close() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
