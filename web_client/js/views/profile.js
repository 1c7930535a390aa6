// A member's profile (#/people/USER_ID), reached from their name in a room, the "Here now"
// list, the friends page and the feed: handle, role, the rooms both write in, and the friend
// and follow buttons with the state said in plain words (docs/social.md).

import { api } from "../api.js";
import { h, replace, roleBadge, roleName, announce, focusOn, uid } from "../dom.js";
import { roomHash } from "../router.js";
import { couldNotLoad } from "../retry.js";
import { friendWords, refusalWords, ties } from "./ties.js";

export function showProfile(main, app, route) {
  document.title = "A member · Kindred";
  const body = h("div", { class: "profile" }, h("p", { class: "loading" }, "Loading…"));
  main.appendChild(body);
  // One status line for what the buttons did: read out politely, never moving focus away.
  const status = h("p", { role: "status", class: "hint profile__status" });
  let view = null;

  async function load() {
    try {
      view = await api.get(`/api/people/${encodeURIComponent(route.id)}`);
      render();
    } catch (err) {
      if (err.status === 404) {
        document.title = "Not found · Kindred";
        replace(body, h("h1", {}, "This member could not be found"),
          h("p", {}, "The link may be wrong, or the account may have been closed."),
          h("p", {}, h("a", { href: "#/rooms" }, "Back to the rooms")));
        return;
      }
      couldNotLoad(body, app, "This profile", err, load);
    }
  }

  /** Run one of the buttons' calls; then show the profile as it is now. */
  async function act(button, call, done) {
    button.disabled = true;
    try {
      await call(view.user);
      status.textContent = done;
      announce(done);
      const part = button.closest("section").dataset.part;
      await load();
      // Keep the keyboard where it was: on the first button now in that part, or its state line.
      const section = body.querySelector(`section[data-part="${part}"]`);
      if (section) focusOn(section.querySelector("button") || section.querySelector("[tabindex='-1']"));
    } catch (err) {
      status.textContent = refusalWords(err);
      button.disabled = false;
    }
  }

  function button(label, action, call, done, quiet = false) {
    const b = h("button", { type: "button", class: `button${quiet ? " button--quiet" : ""}`, "data-action": action }, label);
    b.addEventListener("click", () => act(b, call, done));
    return b;
  }

  function friendPart(v) {
    const name = v.user.handle;
    const buttons = [];
    if (v.friend === "none" && v.can_befriend) {
      buttons.push(button("Ask to be friends", "befriend", ties.befriend, `You asked ${name} to be friends.`));
    } else if (v.friend === "requested") {
      buttons.push(button("Cancel my request", "cancel", ties.unfriend, "Your request is cancelled.", true));
    } else if (v.friend === "asked_me") {
      buttons.push(button("Accept", "accept", ties.befriend, `You and ${name} are friends now.`));
      buttons.push(button("Decline", "decline", ties.unfriend, "You declined the request. They are not told.", true));
    } else if (v.friend === "friends") {
      buttons.push(button("Stop being friends", "unfriend", ties.unfriend, `You and ${name} are no longer friends.`, true));
    }
    let note = null;
    if (v.you_blocked) note = `You have blocked ${name}. Unblock them (from a room's "More" menu) to be friends or follow them.`;
    else if (v.friend === "none" && !v.can_befriend) note = `${name} is not taking friend requests.`;
    const id = uid("friend");
    return h("section", { class: "panel", "aria-labelledby": id, "data-part": "friend" },
      h("h2", { id }, "Friends"),
      h("p", { class: "profile__friend-state", tabindex: "-1" }, friendWords(v.friend, name)),
      note ? h("p", { class: "hint" }, note) : null,
      buttons.length ? h("p", { class: "actions" }, buttons) : null);
  }

  function followPart(v) {
    const name = v.user.handle;
    const id = uid("follow");
    let line;
    let action = null;
    if (v.following) {
      line = `You follow ${name}: what they write in rooms you can open shows in your feed.`;
      action = button("Stop following", "unfollow", ties.unfollow, `You no longer follow ${name}.`, true);
    } else if (v.can_follow) {
      line = `Follow ${name} to see what they write in rooms you can open, in your feed. They do not need to agree, and they are not told.`;
      action = button("Follow", "follow", ties.follow, `You follow ${name} now.`);
    } else {
      line = `${name} cannot be followed.`;
    }
    return h("section", { class: "panel", "aria-labelledby": id, "data-part": "follow" },
      h("h2", { id }, "Following"),
      h("p", { tabindex: "-1" }, line),
      v.follows_you ? h("p", {}, `${name} follows you.`) : null,
      action ? h("p", { class: "actions" }, action) : null);
  }

  function render() {
    const v = view;
    document.title = `${v.user.handle} · Kindred`;
    const roomsId = uid("common");
    const common = v.rooms_in_common.length
      ? h("ul", { class: "profile__rooms" }, v.rooms_in_common.map((r) => h("li", {}, h("a", { href: roomHash(r.slug) }, r.name))))
      : h("p", { class: "hint" }, v.self ? "This is you." : "None yet.");
    // ---- Private messages (branch work-conv): the "Send a message" button goes here. ----
    // It stays hidden until the profile says the viewer may write (`can_message`); keep its id.
    const message = h("button", { type: "button", class: "button", id: "profile-message", hidden: true }, "Send a message");
    message.hidden = !v.can_message;
    replace(body,
      h("h1", {}, v.user.handle, " ", roleBadge(v.user.role)),
      h("p", { class: "hint" }, roleName(v.user.role), v.self ? " (you)" : ""),
      h("div", { class: "profile__message" }, message),
      status,
      v.self ? h("p", {}, "This is how others see you. ", h("a", { href: "#/friends" }, "Your friends, requests and choices")) : null,
      v.self ? null : friendPart(v),
      v.self ? null : followPart(v),
      h("section", { class: "panel", "aria-labelledby": roomsId },
        h("h2", { id: roomsId }, "Rooms you both write in"), common));
  }

  load();
  return {
    update(next) {
      route = next;
      load();
    },
    frame(frame) {
      // A friend request or an acceptance: it may be this member's; show the profile as it is now.
      if (frame.type === "notification" && String(frame.kind || "").startsWith("friend")) load();
    },
  };
}
