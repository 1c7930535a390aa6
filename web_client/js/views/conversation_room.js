// A private conversation shown in the room view (#/room/dm-ID): who it is with instead of a
// room's name, where it stands (waiting for an answer, declined, closed by a block), and the
// composer closed when nobody may write. The messages, presence, typing, threads, reactions
// and reports are the room view's own.

import { api } from "../api.js";
import { h, replace, announce } from "../dom.js";
import { conversationId, names } from "./conversations.js";

/** What the room view needs of a conversation, shaped like a community: {name, description}. */
export async function conversationAsRoom(view) {
  const conv = await api.get(`/api/conversations/${encodeURIComponent(conversationId(view.slug))}`);
  view.conversation = conv;
  const who = names(conv.with);
  return {
    name: conv.group ? `Private group: ${who}` : `Private conversation with ${who}`,
    description: "Private: only the people in this conversation can read it.",
    composerLabel: `Your message to ${who}`,
  };
}

/** Where the conversation stands for this member, and whether they may write: the notice is
 * put in ``box``; the answer is the composer's closed reason, or null. */
export function conversationState(view, box) {
  const conv = view.conversation;
  if (!conv) return null;
  const who = names(conv.with);
  const me = view.me.id;
  let text = null;
  let closed = null;
  if (conv.blocked) {
    text = closed = "Nobody can write here while one of you blocks the other.";
  } else if (conv.state === "declined") {
    text = closed = `${who} did not accept your request. You cannot write here any more.`;
  } else if (conv.state === "request" && conv.requested_by === me) {
    text = `${who} has not accepted yet. They see your first message with your request; what you write after it reaches them if they accept (up to 5 messages).`;
  } else if (conv.state === "request") {
    text = closed = `${who} would like to write to you. Accept or decline on your Messages page.`;
  }
  replace(box, text ? h("div", { class: "notice", role: "status" }, h("p", {}, text),
    conv.state === "request" && conv.requested_by !== me ? h("p", {}, h("a", { href: "#/conversations" }, "Open your messages")) : null) : null);
  return closed;
}

/** A `conversation` frame about the one on screen: read its state again (an answer, a block). */
export async function conversationChanged(view, frame) {
  if (frame.type !== "conversation" || frame.room !== view.slug || frame.event === "message") return;
  try {
    await conversationAsRoom(view);
  } catch {
    return; // the next visit shows it
  }
  view.composerState();
  if (frame.event === "accepted") announce("Your request was accepted: your messages have reached them.");
  if (frame.event === "declined") announce("Your request was not accepted. You cannot write here any more.");
}

/** A refusal of the socket for this conversation (joining a request not accepted yet, or
 * sending into a closed one): read the state again and show it. */
export async function conversationRefused(view) {
  try {
    await conversationAsRoom(view);
  } catch {
    // Gone, or not ours: the room view says so on its own.
  }
  view.composerState();
}
