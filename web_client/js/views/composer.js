// Writing a message: the form (the outbox that sends it is views/outbox.js).

import { h, uid, codePoints, focusOn, replace } from "../dom.js";

const MAX_CHARS = 4000;
const TYPING_EVERY_MS = 3000;

const PHI_WORDS = {
  phone: "a phone number",
  email: "an email address",
  address: "a street address",
  birth_date: "a date of birth",
};

function listWords(kinds) {
  const words = kinds.map((k) => PHI_WORDS[k] || "personal details");
  if (words.length <= 1) return words[0] || "personal details";
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** A touch screen with no mouse or trackpad (a phone or tablet). */
function touchOnly() {
  return window.matchMedia("(pointer: coarse)").matches && !window.matchMedia("(any-pointer: fine)").matches;
}

/**
 * The form. opts: {label, hint, submitLabel, onSend(body) -> boolean, onTyping()}.
 * Returns {form, textarea, status(text), setBlocked(text|null), showConfirm(...), restore(body)}.
 */
export function composer(opts) {
  const id = uid("composer");
  const hintId = `${id}-hint`;
  const statusEl = h("p", { class: "composer__status", role: "status" });
  const textarea = h("textarea", {
    id, name: "body", rows: 3, "aria-describedby": `${hintId} ${id}-status`,
    autocomplete: "off", spellcheck: "true",
  });
  statusEl.id = `${id}-status`;
  const send = h("button", { type: "submit", class: "button" }, opts.submitLabel || "Send");
  const dialogSlot = h("div");
  const form = h("form", { class: "composer", novalidate: true },
    h("label", { for: id, class: "label" }, opts.label),
    h("span", { class: "hint", id: hintId }, opts.hint || (touchOnly()
      ? "Use the Send button to send. The Enter key starts a new line."
      : "Press Enter to send, Shift and Enter for a new line.")),
    textarea,
    h("div", { class: "actions" }, send),
    dialogSlot,
    statusEl,
  );
  let lastTyping = 0;
  let blocked = null;

  function submit() {
    if (blocked) {
      statusEl.textContent = blocked;
      return;
    }
    const body = textarea.value.replace(/\s+$/u, "");
    if (!body.trim()) {
      statusEl.textContent = "Write something first.";
      return;
    }
    if (body.includes("\u0000")) {
      statusEl.textContent = "This message contains a character that cannot be sent.";
      return;
    }
    if (codePoints(body) > MAX_CHARS) {
      statusEl.textContent = `This message is too long: at most ${MAX_CHARS} characters, it has ${codePoints(body)}.`;
      return;
    }
    statusEl.textContent = ""; // before onSend: the outbox may have something to say about it
    if (opts.onSend(body)) textarea.value = "";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener("keydown", (event) => {
    // Phone keyboards have no Shift and Enter: there Enter is a new line and Send sends.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touchOnly()) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener("input", () => {
    const now = Date.now();
    if (opts.onTyping && textarea.value.trim() && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      opts.onTyping();
    }
  });

  return {
    form,
    textarea,
    status(text) {
      statusEl.textContent = text || "";
    },
    /** A reason the member cannot post now (muted, locked…), or null when they can. */
    setBlocked(reason) {
      blocked = reason;
      textarea.disabled = !!reason;
      send.disabled = !!reason;
      statusEl.textContent = reason || "";
    },
    restore(body) {
      if (!textarea.value) textarea.value = body;
      textarea.focus();
    },
    /** The kind question when a message seems to hold personal details (protocol §4.10). */
    showConfirm(kinds, body, onPost, onEdit) {
      const titleId = uid("phi");
      const box = h("div", { class: "dialog", role: "group", "aria-labelledby": titleId },
        h("h3", { id: titleId, tabindex: "-1" }, "Before you post"),
        h("p", {}, `This message seems to include ${listWords(kinds)}. Everyone in this room can read it, and it stays in the room's history.`),
        h("blockquote", { class: "dialog__quote" }, body),
        h("p", {}, "If you would rather keep it private, you can edit the message first."),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button", onclick: () => { dialogSlot.replaceChildren(); onEdit(); } }, "Edit my message"),
          h("button", { type: "button", class: "button button--quiet", onclick: () => { dialogSlot.replaceChildren(); onPost(); textarea.focus(); } }, "Post it anyway")));
      replace(dialogSlot, box);
      focusOn(box.querySelector("h3"));
    },
  };
}
