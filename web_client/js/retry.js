// A screen (or part of one) that could not load: it says what happened without blaming the
// member's own connection, offers "Try again", and tries again by itself as soon as the live
// connection is back, or every few seconds while there is none.

import { h, replace } from "./dom.js";

const EVERY_MS = 5000;

/** The words for a failed load: err is an ApiError (status 0 when nothing answered). */
export function failureText(what, err) {
  if (err && err.status === 0) {
    return `${what} could not be loaded: Kindred is not answering right now. It may be restarting. We will try again as soon as it is back.`;
  }
  return `${what} could not be loaded: something went wrong on Kindred's side. We will try again in a moment.`;
}

/**
 * Show the failure in container and call retry() once: on "Try again", when app.conn opens
 * again, when the browser comes back online, or after EVERY_MS. Stops once the notice is
 * no longer on the page (the member went elsewhere).
 */
export function couldNotLoad(container, app, what, err, retry) {
  const button = h("button", { type: "button", class: "button button--small" }, "Try again");
  // Said aloud the first time only: a retry that fails again replaces the notice quietly.
  const first = !container.querySelector(".load-failed");
  const box = h("div", { class: "notice notice--warn load-failed", role: first ? "alert" : null },
    h("p", {}, failureText(what, err)), h("p", {}, button));
  replace(container, box);
  const conn = app.conn;
  let done = false;
  const stop = () => {
    done = true;
    clearInterval(timer);
    if (conn) conn.removeEventListener("state", onState);
    window.removeEventListener("online", again);
  };
  function again() {
    if (done) return;
    const onPage = box.isConnected;
    stop();
    if (onPage) {
      button.disabled = true;
      button.textContent = "Trying again…";
      retry();
    }
  }
  function onState(event) {
    if (!box.isConnected) stop();
    else if (event.detail.state === "open") again();
  }
  const timer = setInterval(() => (box.isConnected ? again() : stop()), EVERY_MS);
  if (conn) conn.addEventListener("state", onState);
  window.addEventListener("online", again);
  button.addEventListener("click", again);
  return box;
}
