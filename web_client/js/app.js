// Start-up and navigation: who is signed in, which screen is shown, the connection status line.

import { api, whenSignedOut } from "./api.js";
import { h, replace, roleBadge, focusOn, announce } from "./dom.js";
import { Connection } from "./socket.js";
import { parseRoute } from "./router.js";
import { showSignIn, showRegister } from "./views/auth.js";
import { showDirectory } from "./views/directory.js";
import { showAccount, showReset } from "./views/account.js";
import { RoomView } from "./views/room.js";
import { showSearch } from "./views/search.js";
import { showEventQuestions, showExperts, showTopic } from "./views/experts.js";
import { showSessions } from "./views/sessions.js";
import { showSession } from "./views/session.js";
import { showSafety } from "./views/safety.js";
import { attentionFrame, clearBanners, sessionFrame, showAlert } from "./views/banners.js";
import { showNotifications } from "./views/notifications.js";
import { showProfile } from "./views/profile.js";
import { showFriends } from "./views/friends.js";
import { showFeed } from "./views/feed.js";
import { conversationFrame, showConversationCount, showConversations } from "./views/conversations.js";
import { noUnread, readUpTo, takeAnswer } from "./unread.js";
import { MemberTalk } from "./views/talk.js";
import { NavigatorDesk, showTalkQueue } from "./views/talk_queue.js";
import { pendingStore } from "./pending.js";
import { couldNotLoad } from "./retry.js";

const main = document.getElementById("main");
const nav = document.getElementById("site-nav");
const account = document.getElementById("account");
const whoami = document.getElementById("whoami");
const statusBar = document.getElementById("connection-bar");
const statusLine = document.getElementById("connection");
const retryButton = document.getElementById("retry");
const safetyLink = document.getElementById("nav-safety");
const countBadge = document.getElementById("notification-count");
const talksLink = document.getElementById("nav-talks");
const STAFF_ROLES = new Set(["navigator", "org_admin", "admin"]);

const app = {
  user: null,
  conn: null,
  communities: null, // cached list from GET /api/communities
  view: null,        // {key, cleanup, update}
  afterSignIn: null, // the screen asked for before signing in
  takeAfterSignIn() {
    const hash = this.afterSignIn || "#/rooms";
    this.afterSignIn = null;
    return hash;
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  unread: noUnread(), // GET /api/me/unread, kept current by frames (unread.js)
  unreadAsked: 0, // GET /api/me/unread asked for so far; unreadShown: the newest shown
  unreadShown: 0,
  /** The header's unread count (polite: read out only when it grows). */
  setUnread(n) {
    const before = this.unread.notifications;
    this.unread.notifications = n;
    countBadge.hidden = !n;
    replace(countBadge, n ? [String(n > 99 ? "99+" : n), h("span", { class: "visually-hidden" }, " unread")] : []);
    if (n > before) announce(n === 1 ? "You have 1 unread notification." : `You have ${n} unread notifications.`);
  },
  async refreshUnread() {
    const asked = ++this.unreadAsked;
    const unread = this.unread;
    const told = unread.told;
    try {
      const data = await api.get("/api/me/unread");
      // Signed out since, or a later answer is on screen already.
      if (this.unread !== unread || asked < this.unreadShown) return;
      this.unreadShown = asked;
      const notifications = takeAnswer(unread, data, told);
      showConversationCount(this);
      if (notifications !== null) this.setUnread(notifications);
      this.dispatchUnread();
    } catch {
      // Counts come back with the next frame or visit; nothing to tell the member.
    }
  },
  dispatchUnread() {
    document.dispatchEvent(new CustomEvent("kindred:unread"));
  },
  readTimers: new Map(),
  readSeqs: new Map(),
  /** The member saw a room up to ``seq``: say so (at most once a second). The seq is sent, not
   * "the newest": a mark sent a second later must not cover what arrived after they left. */
  markRead(slug, seq = null) {
    this.unread.rooms[slug] = 0;
    if (this.unread.conversations[slug] || this.unread.counted[slug]) {
      readUpTo(this.unread, slug, seq ?? Infinity); // what was counted up to here is seen
      showConversationCount(this);
    }
    if (seq !== null) this.readSeqs.set(slug, Math.max(this.readSeqs.get(slug) || 0, seq));
    if (this.readTimers.has(slug)) return;
    this.readTimers.set(slug, setTimeout(() => {
      this.readTimers.delete(slug);
      const upTo = this.readSeqs.get(slug);
      this.readSeqs.delete(slug);
      api.post(`/api/rooms/${encodeURIComponent(slug)}/read`, upTo ? { seq: upTo } : {}).catch(() => null);
    }, 1000));
  },
  async loadCommunities(force = false) {
    if (!this.communities || force) {
      this.communities = (await api.communities()).communities;
    }
    return this.communities;
  },
};

app.talk = new MemberTalk(app);
app.desk = new NavigatorDesk(app, {
  banner: document.getElementById("talk-alerts"),
  count: document.getElementById("talk-count"),
});

// ------------------------------------------------------------------ session

async function startSession(user) {
  app.user = user;
  replace(whoami, h("span", { class: "whoami__label" }, "Signed in as "), h("strong", {}, user.handle), " ", roleBadge(user.role));
  nav.hidden = false;
  safetyLink.hidden = !STAFF_ROLES.has(user.role);
  talksLink.hidden = !STAFF_ROLES.has(user.role);
  account.hidden = false;
  app.conn = new Connection({
    checkSession: async () => {
      try {
        await api.me();
        return true;
      } catch (err) {
        return err.status !== 401;
      }
    },
  });
  app.conn.addEventListener("state", (event) => showConnection(event.detail));
  app.conn.addEventListener("frame", (event) => globalFrame(event.detail));
  app.conn.start();
  app.refreshUnread();
  app.talk.load();
}

function endSession(message) {
  if (app.conn) app.conn.stop();
  // Unsent messages stay in this browser only while their author is signed in (shared computers).
  if (app.user) pendingStore.clear(app.user.id);
  app.conn = null;
  app.user = null;
  app.communities = null;
  app.unread = noUnread();
  countBadge.hidden = true;
  showConversationCount(app);
  nav.hidden = true;
  account.hidden = true;
  app.onDuty = false;
  app.talk.reset();
  app.desk.reset();
  app.desk.banner.replaceChildren();
  clearBanners();
  whoami.replaceChildren();
  setStatus("idle", "");
  app.signedOutMessage = message || "";
  app.navigate("#/signin");
}

whenSignedOut(() => {
  if (app.user) endSession("Your session has ended. Please sign in again.");
});

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api.signOut();
  } catch {
    // Signed out already, or the server is away: the page forgets the session either way.
  }
  endSession("You have signed out. See you soon.");
});

// ------------------------------------------------------------------ connection status

let calmTimer = null;
function setStatus(kind, text, { retry = false } = {}) {
  clearTimeout(calmTimer);
  statusBar.className = `connection-bar connection-bar--${kind}`;
  statusLine.textContent = text;
  retryButton.hidden = !retry;
}

function showConnection({ state, quiet, code }) {
  if (quiet) return;
  if (state === "connecting") {
    setStatus("idle", "");
  } else if (state === "open") {
    // Duty belongs to the connection (protocol §3.7): say it again on every new one.
    if (app.onDuty) app.conn.send({ type: "duty", on: true });
    app.refreshUnread(); // what arrived while the connection was away
    if (app.talk.current) app.talk.load(); // a private talk's request, as it is now
    if (statusLine.textContent) {
      setStatus("ok", "Connected again. You are up to date.");
      calmTimer = setTimeout(() => setStatus("idle", ""), 5000);
    }
  } else if (state === "reconnecting") {
    // Say what is happening: nearly always the server restarting or unreachable, rarely the
    // member's own line (the browser's "offline" event covers that, and retries at once).
    const slow = app.conn && app.conn.attempt > 4;
    let text = "Reconnecting… Your messages are kept and will be sent once we are back.";
    if (!navigator.onLine) text = "Reconnecting… This device seems to be offline. Your messages are kept and will be sent once it is back online.";
    else if (code === 1012) text = "Reconnecting… Kindred is restarting. Your messages are kept and will be sent in a moment.";
    else if (slow) text = "Still reconnecting… Kindred is not answering: the server may be restarting or unreachable. We keep trying, and your messages are kept until they are sent.";
    setStatus("warn", text, { retry: true });
  } else if (state === "ended") {
    endSession("Your session has ended. Please sign in again.");
  }
}

retryButton.addEventListener("click", () => app.conn && app.conn.retryNow());

// ------------------------------------------------------------------ alerts for navigators on duty

/** An alert for a room whose moderation panel is not on screen: a banner with a way there. */
function globalFrame(frame) {
  if (frame.type === "banned" && frame.room === "*") {
    endSession("Your account can no longer use Kindred. If you think this is a mistake, contact your organization.");
    return;
  }
  // A private talk with a navigator: the member's request, and the navigators' queue.
  if (app.talk.frame(frame) || app.desk.frame(frame)) return;
  if (frame.type === "notification" || frame.type === "notifications_read" || frame.type === "unread") {
    attentionFrame(app, frame);
    if (frame.type === "notification" && !frame.id) sessionFrame(app, frame); // sessions and answers
    return;
  }
  if (frame.type === "event_state") {
    sessionFrame(app, frame);
    return;
  }
  if (frame.type === "conversation") {
    conversationFrame(app, frame);
    return;
  }
  if (frame.type !== "alert") return;
  if (app.view && app.view.key === `room:${frame.room}` && app.view.moderated) return;
  showAlert(app, frame);
}

// ------------------------------------------------------------------ routing

async function route() {
  const r = parseRoute(location.hash);
  if (!r) return; // an in-page anchor such as #main, not a screen
  const publicScreen = r.name === "signin" || r.name === "register" || r.name === "reset";
  if (!app.user && !publicScreen) {
    app.afterSignIn = location.hash; // a room link: back there once signed in
    app.navigate("#/signin");
    return;
  }
  if (app.user && publicScreen) {
    app.navigate(app.takeAfterSignIn());
    return;
  }
  if (app.view && app.view.key === r.key && app.view.update) {
    app.view.update(r);
    return;
  }
  if (app.view && app.view.cleanup) app.view.cleanup();
  app.view = null;
  main.replaceChildren();
  let view = null;
  switch (r.name) {
    case "signin":
      view = showSignIn(main, app, startSession);
      break;
    case "register":
      view = showRegister(main, app, startSession);
      break;
    case "reset":
      view = showReset(main, app);
      break;
    case "account":
      view = showAccount(main, app);
      break;
    case "rooms":
      view = showDirectory(main, app);
      break;
    case "room":
      view = new RoomView(main, app, r);
      break;
    case "search":
      view = showSearch(main, app, r);
      break;
    case "event-questions":
      view = showEventQuestions(main, app, r);
      break;
    case "experts":
      view = showExperts(main, app, r);
      break;
    case "topic":
      view = showTopic(main, app, r);
      break;
    case "sessions":
      view = showSessions(main, app);
      break;
    case "session":
      view = showSession(main, app, r);
      break;
    case "safety":
      view = showSafety(main, app);
      break;
    case "notifications":
      view = showNotifications(main, app);
      break;
    case "profile":
      view = showProfile(main, app, r);
      break;
    case "friends":
      view = showFriends(main, app);
      break;
    case "feed":
      view = showFeed(main, app);
      break;
    case "conversations":
      view = showConversations(main, app);
      break;
    case "talks":
      view = showTalkQueue(main, app);
      break;
    default:
      app.navigate("#/rooms");
      return;
  }
  app.view = {
    key: r.key,
    cleanup: view && view.cleanup ? () => view.cleanup() : null,
    update: view && view.update ? (next) => view.update(next) : null,
    frame: view && view.frame ? (f) => view.frame(f) : null,
    get moderated() {
      return !!(view && view.moderation);
    },
  };
  // A new screen: move focus to its heading so screen readers start there.
  focusOn(main.querySelector("h1"));
}

window.addEventListener("hashchange", route);

// The skip link points at #main; keep it from disturbing the routes.
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  focusOn(main);
});

// A link in the menu to the screen already shown loads it again (fresh data, or a retry).
nav.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (link && link.getAttribute("href") === location.hash) {
    event.preventDefault();
    if (app.view && app.view.cleanup) app.view.cleanup();
    app.view = null;
    route();
  }
});

async function boot() {
  try {
    const me = await api.me();
    await startSession(me);
  } catch (err) {
    if (err.status === 0) {
      // Nothing answered: the server is away, not the member signed out. Try again.
      let slot = main.querySelector(".boot-failed");
      if (!slot) replace(main, h("h1", {}, "Kindred"), (slot = h("div", { class: "boot-failed" })));
      couldNotLoad(slot, app, "This page", err, boot);
      return;
    }
    // Not signed in (401): the sign-in screen says what to do.
  }
  if (!parseRoute(location.hash)) {
    history.replaceState(null, "", app.user ? "#/rooms" : "#/signin");
  }
  route();
}

boot();
