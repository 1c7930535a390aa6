// Screens live in the URL's hash, so the static server needs no routes and Back works.
//   #/signin  #/register  #/reset  #/account  #/rooms  #/safety  #/search?q=…&room=…
//   #/room/SLUG  #/room/SLUG/thread/MESSAGE_ID  #/sessions  #/sessions/ID
//   #/event/ID/questions  #/experts?q=…  #/experts/ID  #/notifications
//   #/people/USER_ID (a profile)  #/friends  #/feed  #/talks  #/conversations (a conversation
//   itself is a room: #/room/dm-ID)

/** {name, key, ...params} for a screen hash, or null for anything else (e.g. "#main"). */
export function parseRoute(hash) {
  if (!hash.startsWith("#/")) return null;
  const [path, query = ""] = hash.slice(2).split("?");
  const parts = path.split("/").map((p) => decodeURIComponent(p));
  const params = new URLSearchParams(query);
  switch (parts[0]) {
    case "signin":
    case "register":
    case "reset":
    case "account":
    case "rooms":
    case "safety":
    case "notifications":
    case "friends":
    case "feed":
    case "conversations":
    case "talks":
      return { name: parts[0], key: parts[0] };
    case "people":
      if (parts[1]) return { name: "profile", key: `profile:${parts[1]}`, id: parts[1] };
      return { name: "friends", key: "friends" };
    case "event":
      if (parts[1] && parts[2] === "questions") return { name: "event-questions", key: `event-questions:${parts[1]}`, id: parts[1] };
      return { name: "unknown", key: "unknown" };
    case "experts":
      if (parts[1]) return { name: "topic", key: `topic:${parts[1]}`, id: parts[1] };
      return { name: "experts", key: "experts", q: params.get("q") || "" };
    case "sessions":
      if (parts[1]) return { name: "session", key: `session:${parts[1]}`, id: parts[1] };
      return { name: "sessions", key: "sessions" };
    case "search":
      return { name: "search", key: "search", q: params.get("q") || "", room: params.get("room") || "" };
    case "room":
      if (!parts[1]) return { name: "rooms", key: "rooms" };
      return {
        name: "room",
        key: `room:${parts[1]}`,
        slug: parts[1],
        thread: parts[2] === "thread" && parts[3] ? parts[3] : null,
      };
    default:
      return { name: "unknown", key: "unknown" };
  }
}

export function roomHash(slug, thread = null) {
  const base = `#/room/${encodeURIComponent(slug)}`;
  return thread ? `${base}/thread/${encodeURIComponent(thread)}` : base;
}

/** A member's profile, by their public id (the id presence and messages carry). */
export function personHash(id) {
  return `#/people/${encodeURIComponent(id)}`;
}
