// What a live room does with each frame from the server (docs/protocol.md): the room's own
// frames, and the member's frames about moderation that answer this page.

import { h, announce } from "../dom.js";
import { applyReactions } from "./reactions.js";

export function roomFrame(view, frame) {
  switch (frame.type) {
    case "joined":
      if (view.lastSeq !== null && frame.seq < view.lastSeq) {
        // The room's numbering went back (§5.3): start again from the new head.
        view.lastSeq = frame.seq;
        view.timeline.historyNote.textContent = "Some earlier messages may no longer be available here.";
      }
      view.joined = true;
      view.app.markRead(view.slug, frame.seq); // the replay brings everything up to the head
      view.replayUntil = frame.seq;
      view.replayed = 0;
      view.people.snapshot(frame.present || [], frame.count);
      view.outbox.resend();
      view.composerState();
      if (view.moderation) view.moderation.rejoined();
      break;
    case "message":
      view.message(frame);
      view.app.markRead(view.slug, frame.seq);
      break;
    case "reactions":
      applyReactions(view.messages.get(frame.message), frame, view.layout, view.me);
      break;
    case "presence":
      view.people.changed(frame.joined || [], frame.left || [], frame.count, frame.partial === true);
      break;
    case "members":
      view.people.page(frame.members || [], frame.next ?? null, frame.count);
      break;
    case "typing":
      view.people.typed(frame.user);
      break;
    case "gap":
      view.timeline.note("Some messages are not shown here. ",
        h("button", { type: "button", class: "link-button", onclick: () => view.reload() }, "Reload the room"));
      view.lastSeq = Math.max(view.lastSeq || 0, frame.to);
      break;
    case "removed":
      view.removed(frame.id, frame.reason);
      break;
    case "room_state":
      view.notices.roomState(frame);
      if (view.moderation) view.moderation.roomState(frame);
      view.composerState();
      break;
    case "muted":
      view.notices.restricted("muted", frame.until, frame.reason);
      view.composerState();
      announce(`A navigator has muted you in this room. ${frame.reason ? `Reason: ${frame.reason}` : ""}`);
      break;
    case "unmuted":
      view.notices.unmuted();
      view.composerState();
      announce("You can post in this room again.");
      break;
    case "kicked":
    case "banned":
      view.leaveBecause(frame.type, frame.until, frame.reason);
      break;
    case "resources":
      if (!frame.talk) view.notices.resources(frame); // a private talk's card is views/talk.js's
      break;
    case "ack":
    case "confirm":
      view.outbox.handle(frame, (id) => view.messages.has(id));
      break;
    case "error":
      view.error(frame);
      break;
    default:
      break;
  }
}

/** Frames for any room or none: moderation answers, duty, alerts. */
export function globalFrame(view, frame) {
  if (frame.type === "moderated" || (frame.type === "error" && frame.cid && view.pendingModeration.has(frame.cid))) {
    const waiting = view.pendingModeration.get(frame.cid);
    if (!waiting) return;
    view.pendingModeration.delete(frame.cid);
    if (frame.type === "moderated") {
      waiting.resolve(frame);
      if (view.moderation) view.moderation.refresh();
    } else {
      waiting.reject(new Error(moderationError(frame)));
    }
    return;
  }
  if (view.moderation && (frame.type === "duty" || frame.type === "alert")) view.moderation.frame(frame);
}

function moderationError(frame) {
  const reasons = {
    not_staff: "Only this room's navigators can do that.",
    outranked: "You cannot act on this member: their role is the same as yours or higher.",
    no_target: "Choose a member or a message first.",
    bad_target: "That action does not take a member or a message.",
  };
  if (frame.code === "forbidden") return reasons[frame.reason] || "You may not do that here.";
  if (frame.code === "no_such_member") return "That member no longer exists.";
  if (frame.code === "no_such_message") return "That message is no longer in this room.";
  if (frame.code === "unavailable") return "The server is busy. Please try again in a moment.";
  return frame.detail || "That did not work.";
}
