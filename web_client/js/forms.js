// Labelled form fields with hints and error messages wired for screen readers, and an error
// summary that takes focus when a form is refused.

import { h, uid, replace, focusOn } from "./dom.js";

/**
 * A field: {wrapper, input, setError(text)}.
 * opts: {label, type, name, hint, autocomplete, required, multiline, inputmode, value, maxlength}
 */
export function field(opts) {
  const id = uid(opts.name || "field");
  const hintId = opts.hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const attrs = {
    id,
    name: opts.name,
    autocomplete: opts.autocomplete || "off",
    required: opts.required || false,
    inputmode: opts.inputmode || null,
    maxlength: opts.maxlength || null,
    spellcheck: opts.spellcheck === undefined ? null : String(opts.spellcheck),
    autocapitalize: opts.autocapitalize || null,
    "aria-describedby": [hintId, errorId].filter(Boolean).join(" "),
  };
  const input = opts.multiline
    ? h("textarea", { ...attrs, rows: opts.rows || 3 })
    : h("input", { ...attrs, type: opts.type || "text" });
  if (opts.value) input.value = opts.value;
  const error = h("span", { class: "field-error", id: errorId });
  const wrapper = h("div", { class: "field" },
    h("label", { for: id }, opts.label),
    opts.hint ? h("span", { class: "hint", id: hintId }, opts.hint) : null,
    input,
    error,
  );
  return {
    wrapper,
    input,
    setError(text) {
      error.textContent = text || "";
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    },
  };
}

/** The box listing what went wrong; show(problems) with [{text, field?}] focuses it. */
export function errorSummary() {
  const box = h("div", { class: "error-summary", tabindex: "-1" });
  return {
    box,
    clear() {
      box.replaceChildren();
      box.removeAttribute("role");
    },
    show(title, problems) {
      replace(box,
        h("h2", {}, title),
        h("ul", {}, problems.map((p) => h("li", {},
          p.field
            ? h("a", {
              href: `#${p.field.input.id}`,
              onclick: (event) => { event.preventDefault(); p.field.input.focus(); },
            }, p.text)
            : p.text))),
      );
      box.setAttribute("role", "alert");
      focusOn(box);
    },
  };
}

/** A "show password" checkbox for a password field. */
export function showPasswordToggle(input) {
  const id = uid("show");
  const box = h("input", {
    type: "checkbox", id,
    onchange: () => { input.type = box.checked ? "text" : "password"; },
  });
  return h("div", { class: "checkbox" }, box, h("label", { for: id }, "Show password"));
}
