// The unread counts (notifications, rooms, private conversations), kept current by frames and
// by HTTP answers; either can be the older one, so neither simply overwrites the other
// (docs/protocol.md §4.23, §4.28 and GET /api/me/unread).
//
// - An `unread` frame answers a read mark sent up to a second earlier: it can arrive after a
//   newer message was counted here (those above its seq stay new), or after an HTTP answer
//   counted after that mark (then it tells nothing new).
// - An HTTP answer was counted when the server read it, which can be before a frame that
//   arrived while it travelled: a read mark (its `read_marks` are older than one heard of),
//   or a private message (its seq is above the answer's `counted_to`: not in its count).
// - Notification counts carry no seq: frames tell the count as a whole, so an answer asked
//   for before the last such frame arrived is not shown (`told` counts those frames).

/** What a page knows before anything is read. `counted`: per conversation, the seqs counted
 * from `message` frames that no read mark has covered yet; `marks`: the newest read mark
 * heard of per room (from frames and answers: the server's, which never moves back). */
export function noUnread() {
  return { notifications: 0, rooms: {}, conversations: {}, counted: {}, marks: {}, told: 0 };
}

function heard(unread, room, mark) {
  if (mark > (unread.marks[room] || 0)) unread.marks[room] = mark;
}

/** A read mark at `seq` covers the seqs counted here up to it: forget those, return the rest. */
function forgetUpTo(unread, room, seq) {
  const after = (unread.counted[room] || []).filter((s) => s > seq);
  if (after.length) unread.counted[room] = after;
  else delete unread.counted[room];
  return after;
}

/** The conversation was read up to `seq` (an `unread` frame's, or this page's): its count is
 * `base` and the messages counted here after it; those up to it are forgotten. */
export function readUpTo(unread, room, seq, base = 0) {
  unread.conversations[room] = base + forgetUpTo(unread, room, seq).length;
}

/** An `unread` frame. False when it is older than a read mark already heard of. Since 1.4 it
 * says what is still new after the mark (`remaining`, up to seq `counted_to`), which a count
 * learned over HTTP may hold and no frame told: merged as an HTTP answer's. */
export function unreadFrame(unread, frame) {
  if (typeof frame.seq === "number") {
    if (frame.seq <= (unread.marks[frame.room] || 0)) return false;
    heard(unread, frame.room, frame.seq);
  }
  const conversation = frame.room in unread.conversations || unread.counted[frame.room];
  if (typeof frame.remaining === "number" && typeof frame.counted_to === "number") {
    if (conversation) conversationAnswer(unread, frame.room, frame.remaining, frame.seq, frame.counted_to);
    else unread.rooms[frame.room] = frame.remaining;
    return true;
  }
  unread.rooms[frame.room] = frame.count;
  if (conversation) {
    // Not frame.count alone: the read mark may be older than a message counted since.
    readUpTo(unread, frame.room, frame.seq ?? Infinity, frame.count);
  }
  return true;
}

/** A conversation's `message` frame: counted unless a read mark heard of covers it already
 * (read on another device before this one heard of it). False when not counted. */
export function messageFrame(unread, frame) {
  const seq = typeof frame.seq === "number" ? frame.seq : null;
  if (seq !== null && seq <= (unread.marks[frame.room] || 0)) return false;
  unread.conversations[frame.room] = (unread.conversations[frame.room] || 0) + 1;
  if (seq !== null) (unread.counted[frame.room] ||= []).push(seq);
  return true;
}

/** A conversation's count from an HTTP answer (GET /api/me/unread or /api/conversations):
 * `count` messages after read mark `mark`, taking in those up to seq `upto`. Counted before
 * a read mark heard of since: the count kept here stands. Otherwise the answer's count and
 * the messages counted here that it did not take in. */
export function conversationAnswer(unread, room, count, mark, upto) {
  if (typeof mark !== "number" || typeof upto !== "number") { // a server before 1.3
    unread.conversations[room] = count;
    return;
  }
  if ((unread.marks[room] || 0) > mark) return;
  heard(unread, room, mark);
  const after = forgetUpTo(unread, room, mark);
  unread.conversations[room] = count + after.filter((s) => s > upto).length;
}

/** GET /api/me/unread's answer, asked for when `told` notification counts had been heard
 * of: the rooms' and conversations' counts merged as above, and the notifications' count
 * when no frame has told a newer one since (returned; null: keep the one shown). */
export function takeAnswer(unread, data, told) {
  const marks = data.read_marks;
  const rooms = {};
  for (const [room, n] of Object.entries(data.rooms || {})) {
    // A count from before a read mark heard of since: the frame's (0) stands.
    const stale = marks && (unread.marks[room] || 0) > (marks[room] || 0);
    const kept = stale ? unread.rooms[room] || 0 : n;
    if (kept) rooms[room] = kept;
  }
  unread.rooms = rooms;
  const scope = data.counted_to || Object.fromEntries(Object.keys(data.conversations || {}).map((r) => [r, undefined]));
  const conversations = {};
  const before = unread.conversations;
  unread.conversations = conversations;
  for (const [room, upto] of Object.entries(scope)) {
    conversations[room] = before[room] || 0;
    conversationAnswer(unread, room, (data.conversations || {})[room] || 0, marks ? marks[room] || 0 : undefined, upto);
    if (!conversations[room]) delete conversations[room];
  }
  for (const [room, mark] of Object.entries(marks || {})) heard(unread, room, mark);
  return unread.told === told ? data.notifications : null;
}
