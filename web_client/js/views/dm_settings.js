// Who may write to me first (GET / PUT /api/me/dm), on the account screen. The words say what
// the rule does (docs/social.md): navigators of my rooms can always write, for my safety;
// people who are not my friends ask first.

import { api } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { couldNotLoad } from "../retry.js";

const CHOICES = [
  ["nobody", "Nobody", "Only the navigators of the rooms I take part in, who can always write to me."],
  ["staff", "Navigators and staff only", "Navigators of my rooms write at once; other staff ask first."],
  ["friends", "My friends, navigators and staff", "The usual choice. Other staff ask first."],
  ["communities", "People in the rooms I take part in, my friends, navigators and staff", "People who are not my friends ask first; I accept or decline."],
];

/** The setting as a form: {panel}. */
export function dmSettings(app) {
  const titleId = uid("dm-title");
  const box = h("div", {}, h("p", { class: "loading" }, "Loading your choice…"));
  const panel = h("section", { class: "form-card", "aria-labelledby": titleId },
    h("h2", { id: titleId }, "Private messages"),
    h("p", { class: "hint" }, "Who may start a private conversation with you. Conversations you already have stay open."),
    box);

  async function load() {
    try {
      const current = (await api.get("/api/me/dm")).allow;
      const name = uid("allow");
      const saved = h("p", { role: "status", class: "hint" });
      const options = CHOICES.map(([value, label, hint]) => {
        const id = uid("allow");
        const hintId = `${id}-hint`;
        return h("div", { class: "check" },
          h("input", { type: "radio", id, name, value, checked: current === value, "aria-describedby": hintId }),
          h("label", { for: id }, label),
          h("span", { class: "hint check__hint", id: hintId }, hint));
      });
      const form = h("form", { class: "dm-settings" },
        h("fieldset", {}, h("legend", {}, "Who may write to me first"), options),
        h("button", { type: "submit", class: "button" }, "Save"), saved);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const chosen = form.querySelector(`input[name="${name}"]:checked`);
        try {
          await api.put("/api/me/dm", { allow: chosen ? chosen.value : "friends" });
          saved.textContent = "Saved.";
        } catch {
          saved.textContent = "That could not be saved. Please try again.";
        }
      });
      replace(box, form);
    } catch (err) {
      couldNotLoad(box, app, "Your choice", err, load);
    }
  }
  load();
  return { panel };
}
