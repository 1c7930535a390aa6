// The friends page (#/friends): requests asking me (accept, decline), my requests (cancel),
// my friends, whom I follow and who follows me, and my choices (friend requests, being
// followed). Live: a friend request or an acceptance arriving shows at once (docs/social.md).

import { api } from "../api.js";
import { h, replace, uid, announce, focusOn } from "../dom.js";
import { couldNotLoad } from "../retry.js";
import { personLink, refusalWords, ties } from "./ties.js";

function section(title, intro, list, empty) {
  const id = uid("friends");
  return h("section", { class: "panel", "aria-labelledby": id },
    h("h2", { id }, title),
    intro && list.length ? h("p", { class: "hint" }, intro) : null,
    list.length ? h("ul", { class: "people people--wide" }, list) : h("p", { class: "hint" }, empty));
}

export function showFriends(main, app) {
  document.title = "Friends · Kindred";
  const status = h("p", { role: "status", class: "hint" });
  const lists = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const choices = h("div", {}, h("p", { class: "loading" }, "Loading your choices…"));
  const choicesId = uid("choices");
  main.appendChild(h("div", { class: "friends" },
    h("h1", {}, "Friends"),
    h("p", {}, "Friends are people you choose to keep in touch with: both of you agree. Following someone shows what they write in rooms you can open, in ",
      h("a", { href: "#/feed" }, "your feed"), "; they do not need to agree."),
    h("p", { class: "hint" }, "To ask someone, open their profile: select their name in a room."),
    status, lists,
    h("section", { class: "panel", "aria-labelledby": choicesId },
      h("h2", { id: choicesId }, "Your choices"), choices)));

  /** A button on one person's row; afterwards the lists are shown anew and focus stays nearby. */
  function rowButton(label, person, call, done, quiet = true) {
    const b = h("button", { type: "button", class: `button button--small${quiet ? " button--quiet" : ""}`,
      "aria-label": `${label}: ${person.handle}` }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await call(person);
        status.textContent = done;
        announce(done);
        await load();
        focusOn(main.querySelector("h1"));
      } catch (err) {
        status.textContent = refusalWords(err);
        b.disabled = false;
      }
    });
    return b;
  }

  function row(person, ...buttons) {
    return h("li", {}, personLink(person), buttons.length ? h("span", { class: "actions" }, buttons) : null);
  }

  async function load() {
    try {
      const [friends, following] = await Promise.all([api.get("/api/friends"), api.get("/api/following")]);
      replace(lists,
        section("Asking to be your friend", null, friends.incoming.map((p) => row(p,
          rowButton("Accept", p, ties.befriend, `You and ${p.handle} are friends now.`, false),
          rowButton("Decline", p, ties.unfriend, "You declined the request. They are not told."))),
        "Nobody is asking just now."),
        section("Your friends", null, friends.friends.map((p) => row(p)), "No friends yet."),
        section("You asked", "Waiting for their answer.", friends.outgoing.map((p) => row(p,
          rowButton("Cancel request", p, ties.unfriend, "Your request is cancelled."))),
        "No requests waiting."),
        section("You follow", null, following.following.map((p) => row(p,
          rowButton("Stop following", p, ties.unfollow, `You no longer follow ${p.handle}.`))),
        "You follow nobody yet."),
        section("Following you", null, following.followers.map((p) => row(p)), "Nobody follows you yet."));
    } catch (err) {
      couldNotLoad(lists, app, "Your friends", err, load);
    }
  }

  async function loadChoices() {
    try {
      const s = await api.get("/api/people/settings");
      const requestsId = uid("choice");
      const followId = uid("choice");
      const saved = h("p", { role: "status", class: "hint" });
      const form = h("form", { onsubmit: async (event) => {
        event.preventDefault();
        const wanted = {
          friend_requests: form.querySelector(`#${requestsId}`).checked,
          followable: form.querySelector(`#${followId}`).checked,
        };
        try {
          await api.put("/api/people/settings", wanted);
          saved.textContent = "Saved.";
          await load();
        } catch {
          saved.textContent = "That could not be saved. Please try again.";
        }
      } },
      h("div", { class: "check" },
        h("input", { type: "checkbox", id: requestsId, checked: s.friend_requests }),
        h("label", { for: requestsId }, "Members may ask to be my friend")),
      h("div", { class: "check" },
        h("input", { type: "checkbox", id: followId, checked: s.followable, "aria-describedby": `${followId}-hint` }),
        h("label", { for: followId }, "Members may follow me")),
      h("p", { class: "hint", id: `${followId}-hint` }, "Turning this off also removes everyone who follows you now. They are not told."),
      h("button", { type: "submit", class: "button" }, "Save my choices"), saved);
      replace(choices, form);
    } catch (err) {
      couldNotLoad(choices, app, "Your choices", err, loadChoices);
    }
  }

  load();
  loadChoices();
  return {
    frame(frame) {
      if (frame.type === "notification" && String(frame.kind || "").startsWith("friend")) load();
    },
  };
}
