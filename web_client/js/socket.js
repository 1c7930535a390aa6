// One WebSocket for the whole page (docs/protocol.md §1, §5.3, §7): JSON frames, automatic
// reconnect with exponential backoff and jitter, and a resume of every joined room with
// `since` = the highest seq the page holds, so nothing is missed and nothing repeats.

const PROTOCOL = "kindred.v1.json";
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const PING_EVERY_MS = 25000;   // an application ping notices a dead link the browser has not
const PONG_WITHIN_MS = 10000;

/** A client id for `send`: unique per author for good (§5.2), hence random + time + counter. */
let cidCounter = 0;
const cidPrefix = (() => {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
})();
export function newCid() {
  cidCounter += 1;
  return `${cidPrefix}-${Date.now().toString(36)}-${cidCounter}`;
}

/**
 * Events (dispatched on the Connection, an EventTarget):
 *   "state"  detail {state, delay_ms?}   state: connecting | open | reconnecting | ended
 *   "frame"  detail frame                every server frame, after room routing
 * Rooms register with track(room, {since, onFrame}); on every (re)connect each is joined again.
 */
export class Connection extends EventTarget {
  constructor({ checkSession }) {
    super();
    this.checkSession = checkSession; // async () => boolean: is the session still valid?
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.rooms = new Map();
    this.stopped = false;
    this.everOpened = false;
    this.onOnline = () => this.retryNow();
    window.addEventListener("online", this.onOnline);
  }

  start() {
    this.stopped = false;
    if (!this.ws && !this.timer) this.connect();
  }

  /** Close for good (sign-out, leaving the page). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.stopHeartbeat();
    window.removeEventListener("online", this.onOnline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...extra } }));
  }

  connect() {
    this.timer = null;
    if (this.stopped) return;
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`, [PROTOCOL]);
    } catch {
      this.scheduleReconnect(null);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.everOpened = true;
      this.setState("open");
      this.startHeartbeat();
      for (const [room, entry] of this.rooms) this.sendJoin(room, entry);
    };
    ws.onmessage = (event) => {
      this.sawTraffic();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      const entry = frame.room ? this.rooms.get(frame.room) : null;
      if (entry) entry.onFrame(frame);
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // an old socket we already replaced or stopped
      this.ws = null;
      this.stopHeartbeat();
      this.afterClose(event.code, opened);
    };
  }

  async afterClose(code, opened) {
    if (this.stopped) return;
    if (code === 4001) {
      this.setState("ended");
      return;
    }
    if (!opened) {
      // A refused handshake looks like 1006 to a page; ask the API whether we are signed out.
      let valid = true;
      try {
        valid = await this.checkSession();
      } catch {
        valid = true; // the server is unreachable: keep trying
      }
      if (!valid) {
        this.setState("ended");
        return;
      }
    }
    this.scheduleReconnect(code);
  }

  scheduleReconnect(code) {
    if (this.stopped || this.timer) return;
    let delay;
    let quiet = false;
    if (code === 4003) {
      // Kicked or banned from one room: the room says so; the others are joined again at once.
      delay = 200;
      quiet = true;
    } else if (code === 1012) {
      delay = Math.random() * 1000; // the server is restarting: come back promptly (§7)
    } else if (code === 1008 || code === 1009) {
      delay = 30000;
    } else {
      const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
      delay = ceiling / 2 + Math.random() * (ceiling / 2);
    }
    if (!quiet) this.attempt += 1;
    this.setState("reconnecting", { delay_ms: Math.round(delay), quiet, code });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Skip the wait (the "Try now" button, the browser coming back online). */
  retryNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping" });
      if (!this.pongTimer) {
        this.pongTimer = setTimeout(() => {
          // Nothing came back: the link is dead even if the browser has not noticed.
          if (this.ws) this.ws.close(4000, "no answer");
        }, PONG_WITHIN_MS);
      }
    }, PING_EVERY_MS);
  }

  sawTraffic() {
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame now; false if the socket is not open (the caller keeps it for later). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Follow a room: join it now (if open) and after every reconnect, with since = entry.since().
   * onFrame receives every frame about this room.
   */
  track(room, entry) {
    this.rooms.set(room, entry);
    if (this.isOpen) this.sendJoin(room, entry);
  }

  untrack(room) {
    if (this.rooms.delete(room)) this.send({ type: "leave", room });
  }

  sendJoin(room, entry) {
    const frame = { type: "join", room };
    const since = entry.since();
    if (since !== null && since !== undefined) frame.since = since;
    this.send(frame);
  }
}
