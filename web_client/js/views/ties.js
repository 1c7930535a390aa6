// Friends and following, shared by the profile, the friends page and the feed: the words for
// how two members stand, the calls that change it, and what a refusal means in plain words.

import { api } from "../api.js";
import { h, roleBadge } from "../dom.js";
import { personHash } from "../router.js";

const enc = encodeURIComponent;

/** How the viewer stands with `handle` (GET /api/people/{user}: `friend`). */
export function friendWords(state, handle) {
  switch (state) {
    case "friends": return `You and ${handle} are friends.`;
    case "requested": return `You asked ${handle} to be friends. They have not answered yet.`;
    case "asked_me": return `${handle} asked to be your friend.`;
    default: return `You and ${handle} are not friends.`;
  }
}

export const ties = {
  /** Ask, or accept their request. */
  befriend: (user) => api.put(`/api/friends/${enc(user.id)}`),
  /** Decline, cancel or unfriend. */
  unfriend: (user) => api.del(`/api/friends/${enc(user.id)}`),
  follow: (user) => api.put(`/api/following/${enc(user.id)}`),
  unfollow: (user) => api.del(`/api/following/${enc(user.id)}`),
};

/** A refusal of the friends or following API in words for a person. */
export function refusalWords(err) {
  if (!err) return "That did not work. Please try again.";
  if (err.status === 0) return err.detail;
  switch (err.code) {
    case "rate_limited":
      return "You have sent many friend requests just now. Please wait a while before sending more.";
    case "not_accepted":
      return err.detail.includes("followed")
        ? "This member cannot be followed."
        : "This member is not taking friend requests.";
    case "you_blocked":
      return "You have blocked this member. Unblock them first if you want to.";
    case "too_many":
      return "You follow as many members as you can. Stop following someone first.";
    case "no_such_member":
      return "This member could not be found.";
    default:
      return "That did not work. Please try again.";
  }
}

/** A member's name as a link to their profile, with their role badge. */
export function personLink(user) {
  return [h("a", { href: personHash(user.id), class: "person-link" }, user.handle), " ", roleBadge(user.role)];
}
