// The HTTP API (docs/protocol.md §9). Same origin only; the session is the HttpOnly cookie, so
// this code never sees or stores a token.

export class ApiError extends Error {
  constructor(status, code, detail, data = null) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail || "";
    this.data = data || {}; // the whole error body: until, reason, ...
  }
}

/** Called with no argument when the server says the session is gone (401). */
let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

async function request(method, path, body, { quiet401 = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    // JSON only: the server refuses other content types on these endpoints (CSRF defence).
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    // Nothing answered: most often Kindred itself is restarting or down, not the member's line.
    throw new ApiError(0, "network", "Kindred is not answering right now. It may be restarting. Please try again in a moment.");
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = (data && data.error) || `http_${response.status}`;
    const detail = (data && data.detail) || "";
    if (response.status === 401 && !quiet401) onSignedOut();
    throw new ApiError(response.status, code, detail, data);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  me: () => request("GET", "/api/me", undefined, { quiet401: true }),
  register: (fields) => request("POST", "/api/register", fields),
  signIn: (email, password) => request("POST", "/api/session", { email, password }, { quiet401: true }),
  signOut: () => request("DELETE", "/api/session", undefined, { quiet401: true }),
  communities: () => request("GET", "/api/communities"),
  community: (slug) => request("GET", `/api/communities/${enc(slug)}`),
  messages: (slug, before, limit = 50) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set("before", String(before));
    return request("GET", `/api/rooms/${enc(slug)}/messages?${q}`);
  },
  thread: (id) => request("GET", `/api/messages/${enc(id)}/thread`),
  search: (text, room, offset = 0) => {
    const q = new URLSearchParams({ q: text, limit: "20", offset: String(offset) });
    if (room) q.set("room", room);
    return request("GET", `/api/search?${q}`);
  },
  // Moderation and safety (docs/protocol.md §9, moderation endpoints).
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body ?? {}),
  put: (path, body) => request("PUT", path, body ?? {}),
  del: (path) => request("DELETE", path),
};
