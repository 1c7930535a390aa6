// Building the page without ever parsing text as HTML: every string becomes a text node.

/**
 * h("p", {class: "x", onclick: fn, "aria-label": "..."}, "text", childNode, [more, children])
 * Attribute values are set with setAttribute; strings among the children become text nodes.
 * null, undefined and false children are skipped, so conditions read naturally.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "style") {
      throw new Error("inline styles are refused by the Content-Security-Policy; use a class");
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = "k") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

const ROLE_NAMES = {
  expert: "Expert",
  navigator: "Navigator",
  org_admin: "Organization admin",
  admin: "Admin",
};

/** The role badge shown beside a handle; plain members have none. */
export function roleBadge(role) {
  const name = ROLE_NAMES[role];
  if (!name) return null;
  return h("span", { class: `badge badge--${role}` }, name);
}

export function roleName(role) {
  return ROLE_NAMES[role] || "Member";
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", hour: "numeric", minute: "2-digit",
});

/** A <time> element: the clock time for today, the date and time otherwise. */
export function timeElement(ts) {
  const when = new Date(ts);
  const today = new Date();
  const sameDay = when.toDateString() === today.toDateString();
  return h("time", { class: "message__time", datetime: when.toISOString() },
    (sameDay ? timeFormat : dateFormat).format(when));
}

const announcer = () => document.getElementById("announcer");

/**
 * Read a short line to screen-reader users through the polite live region. Each line is added
 * as its own paragraph (so only it is read), and old lines are dropped.
 */
export function announce(text) {
  const region = announcer();
  if (!region) return;
  region.appendChild(h("p", {}, text));
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

/** Move focus to an element (making it focusable if it is not), without scrolling jumps. */
export function focusOn(el) {
  if (!el) return;
  if (!el.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
    el.setAttribute("tabindex", "-1");
  }
  el.focus();
}

/** Code points, as the server counts them (an emoji is one). */
export function codePoints(text) {
  return [...text].length;
}
