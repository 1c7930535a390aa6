// Messages written but not yet acknowledged by the server, kept in this browser's localStorage
// per account, so closing the tab does not lose them: the room sends them again when it opens
// (same cid, so a message the server already has is never posted twice, protocol §5.2).
// Removed on sign-out, so nothing written stays behind on a shared computer.

const PREFIX = "kindred.pending.";

function keyFor(userId) {
  return `${PREFIX}${userId}`;
}

function read(userId) {
  try {
    const items = JSON.parse(localStorage.getItem(keyFor(userId)) || "[]");
    return Array.isArray(items) ? items.filter((i) => i && typeof i.cid === "string" && typeof i.body === "string") : [];
  } catch {
    return []; // storage unavailable or damaged: nothing kept, nothing to send
  }
}

function write(userId, items) {
  try {
    if (items.length) localStorage.setItem(keyFor(userId), JSON.stringify(items));
    else localStorage.removeItem(keyFor(userId));
    return true;
  } catch {
    return false; // private mode or full storage: the page still holds them while it is open
  }
}

export const pendingStore = {
  /** Every kept message of this account, oldest first: {cid, room, body, reply_to?, confirm_phi?}. */
  all(userId) {
    return read(userId);
  },
  forRoom(userId, room) {
    return read(userId).filter((i) => i.room === room);
  },
  /** Keep a message; false when the browser would not store it. */
  put(userId, item) {
    const items = read(userId).filter((i) => i.cid !== item.cid);
    items.push(item);
    return write(userId, items);
  },
  remove(userId, cid) {
    const items = read(userId);
    const left = items.filter((i) => i.cid !== cid);
    if (left.length !== items.length) write(userId, left);
  },
  clear(userId) {
    try {
      localStorage.removeItem(keyFor(userId));
    } catch {
      // nothing was stored
    }
  },
};
