// The navigator's panel for one room: on-duty switch, slow mode, lock, pinned message,
// restrictions in force, the safety queue (crisis messages and reports) and the audit log.

import { api } from "../api.js";
import { h, replace, uid, announce, timeElement } from "../dom.js";
import { alertLink, alertWords, itemDetails } from "./safety_items.js";
import { untilText } from "./notices.js";

const SLOW_CHOICES = [["0", "Off"], ["10", "10 seconds"], ["30", "30 seconds"], ["60", "1 minute"], ["300", "5 minutes"]];
const ACTION_WORDS = {
  mute: "muted", unmute: "unmuted", kick: "asked", ban: "banned", unban: "lifted the ban of",
  remove: "removed a message", slow_mode: "set slow mode", lock: "made the room read-only",
  unlock: "opened the room again", pin: "changed the pinned message", duty_on: "went on duty",
  duty_off: "went off duty", resolve: "resolved a queue item",
};

/** "muted Heron", "removed a message by Heron", "asked Heron to step out". */
function auditWords(e) {
  const who = e.user ? e.user.handle : "";
  if (e.action === "remove") return who ? `removed a message by ${who}` : "removed a message";
  if (e.action === "kick") return `asked ${who || "a member"} to step out`;
  return who ? `${ACTION_WORDS[e.action] || e.action} ${who}` : ACTION_WORDS[e.action] || e.action;
}

function section(title, ...content) {
  const id = uid("mod");
  return h("section", { "aria-labelledby": id }, h("h3", { id }, title), ...content);
}

export class ModerationPanel {
  constructor(room, data) {
    this.room = room;
    this.slug = room.slug;
    this.status = h("p", { class: "hint", role: "status" });
    const dutyId = uid("duty");
    this.duty = h("input", { type: "checkbox", id: dutyId, onchange: () => this.setDuty(this.duty.checked) });
    this.duty.checked = !!room.app.onDuty;
    this.slow = h("select", { id: uid("slow"), onchange: () => { this.slowChosen = true; } },
      SLOW_CHOICES.map(([v, t]) => h("option", { value: v }, t)));
    this.slowChosen = false; // the navigator is choosing: refreshes must not undo it
    this.lockButton = h("button", { type: "button", class: "button button--quiet button--small", onclick: () => this.toggleLock() }, "Make the room read-only");
    this.unpinButton = h("button", { type: "button", class: "button button--quiet button--small", hidden: true, onclick: () => this.act({ action: "pin" }, "The pinned message was taken down.") }, "Take down the pinned message");
    this.restrictions = h("ul", { class: "mod-list" });
    this.queue = h("ul", { class: "mod-list" });
    this.audit = h("ul", { class: "mod-list" });
    this.alerts = h("div");
    this.auditBefore = null;
    this.auditMore = h("button", { type: "button", class: "button button--quiet button--small", hidden: true, onclick: () => this.loadAudit(true) }, "Show older entries");
    const headingId = uid("moderation");
    this.panel = h("section", { class: "panel mod-panel", "aria-labelledby": headingId },
      h("h2", { id: headingId }, "Moderation"),
      this.alerts,
      h("div", { class: "checkbox" }, this.duty, h("label", { for: dutyId }, "I am on duty: alert me to crisis messages and reports")),
      section("Room settings",
        h("div", { class: "field" },
          h("label", { for: this.slow.id }, "Slow mode"),
          h("div", { class: "actions" }, this.slow,
            h("button", { type: "button", class: "button button--quiet button--small", onclick: () => this.applySlow() }, "Apply"))),
        h("div", { class: "actions" }, this.lockButton, this.unpinButton)),
      section("Safety queue", this.queue),
      section("Muted and removed members", this.restrictions),
      section("Audit log", this.audit, this.auditMore),
      this.status);
    this.show(data);
    this.loadQueue();
    this.loadAudit(false);
  }

  show(data) {
    if (data && data.state) this.roomState(data.state);
    const list = (data && data.restrictions) || [];
    replace(this.restrictions, list.length ? list.map((r) => h("li", {},
      h("p", {}, h("strong", {}, r.user ? r.user.handle : "A member"), " ",
        r.kind === "mute" ? "is muted" : r.kind === "kick" ? "is asked to stay out" : "is banned",
        " ", untilText(r.until), "."),
      r.reason ? h("p", { class: "hint" }, "Reason: ", r.reason) : null,
      h("button", {
        type: "button", class: "button button--quiet button--small",
        onclick: () => this.act({ action: r.kind === "mute" ? "unmute" : "unban", user: r.user.id }, `${r.user.handle} may take part again.`),
      }, r.kind === "mute" ? `Unmute ${r.user ? r.user.handle : ""}` : `Let ${r.user ? r.user.handle : ""} back in`)))
      : [h("li", { class: "hint" }, "Nobody is muted or removed.")]);
  }

  roomState(state) {
    this.state = state;
    if (!this.slowChosen) {
      this.slow.value = String(SLOW_CHOICES.some(([v]) => Number(v) === state.slow_mode_s) ? state.slow_mode_s : 0);
    }
    this.lockButton.textContent = state.locked ? "Open the room again" : "Make the room read-only";
    this.unpinButton.hidden = !state.pinned;
  }

  async refresh() {
    try {
      this.show(await api.get(`/api/rooms/${encodeURIComponent(this.slug)}/moderation`));
    } catch {
      // Shown as it was; the next change refreshes it.
    }
    this.loadQueue();
    this.loadAudit(false);
  }

  async act(fields, done) {
    try {
      await this.room.moderate(fields);
      this.status.textContent = done;
    } catch (err) {
      this.status.textContent = err.message;
    }
  }

  applySlow() {
    const s = Number(this.slow.value);
    this.slowChosen = false;
    this.act({ action: "slow_mode", duration_s: s }, s ? "Slow mode is on." : "Slow mode is off.");
  }

  toggleLock() {
    const locked = this.state && this.state.locked;
    this.act({ action: locked ? "unlock" : "lock" }, locked ? "The room is open again." : "The room is read-only now.");
  }

  setDuty(on) {
    this.room.app.onDuty = on;
    this.room.conn.send({ type: "duty", on });
  }

  /** The room was joined again (after a reconnect): what changed meanwhile. */
  rejoined() {
    this.refresh();
  }

  frame(frame) {
    if (frame.type === "duty") {
      this.duty.checked = !!frame.on;
      this.status.textContent = frame.on ? "You are on duty." : "You are off duty.";
      return;
    }
    if (frame.type === "alert") {
      const what = alertWords(frame);
      const here = frame.room === this.slug;
      replace(this.alerts, h("div", { class: "notice notice--danger" },
        h("p", {}, h("strong", {}, what), here ? " in this room." : ` in another room (${frame.room}).`),
        h("p", {}, alertLink(frame))));
      announce(`${what}${here ? " in this room" : ""}.`);
      if (here) this.loadQueue();
    }
  }

  async loadQueue() {
    try {
      const data = await api.get(`/api/moderation/queue?status=open&room=${encodeURIComponent(this.slug)}`);
      const items = data.items || [];
      replace(this.queue, items.length ? items.map((item) => this.queueItem(item)) : [h("li", { class: "hint" }, "Nothing waiting.")]);
    } catch {
      replace(this.queue, h("li", { class: "hint" }, "The queue could not be loaded."));
    }
  }

  queueItem(item) {
    const about = itemDetails(item);
    const note = h("input", { type: "text", id: uid("note"), maxlength: 500 });
    return h("li", {},
      h("p", {}, h("strong", {}, item.kind === "crisis" ? "Possible crisis" : "Report"), " · ",
        item.at ? timeElement(item.at) : null),
      about.lines,
      h("div", { class: "field" }, h("label", { for: note.id }, "Note (optional)"), note),
      h("div", { class: "actions" },
        about.link,
        h("button", {
          type: "button", class: "button button--quiet button--small",
          onclick: async () => {
            try {
              const body = note.value.trim() ? { note: note.value.trim() } : {};
              await api.post(`/api/moderation/queue/${encodeURIComponent(item.id)}/resolve`, body);
              this.status.textContent = "Marked as resolved.";
              this.loadQueue();
            } catch {
              this.status.textContent = "That did not work. Please try again.";
            }
          },
        }, "Mark as resolved")));
  }

  async loadAudit(older) {
    const q = new URLSearchParams({ room: this.slug, limit: "20" });
    if (older && this.auditBefore) q.set("before", String(this.auditBefore));
    try {
      const data = await api.get(`/api/moderation/audit?${q}`);
      const rows = (data.entries || []).map((e) => h("li", {},
        e.at ? timeElement(e.at) : null, " ",
        h("strong", {}, e.actor ? e.actor.handle : "Someone"), " ",
        auditWords(e),
        e.reason ? [": ", e.reason] : null));
      if (older) this.audit.append(...rows);
      else replace(this.audit, rows.length ? rows : [h("li", { class: "hint" }, "No entries yet.")]);
      this.auditBefore = data.next_before;
      this.auditMore.hidden = !data.next_before;
    } catch {
      replace(this.audit, h("li", { class: "hint" }, "The audit log could not be loaded."));
    }
  }

  close() {}
}
