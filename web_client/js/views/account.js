// Your account: change the password; and, signed out, reset it with a one-time code from the
// organization (Kindred sends no email, so people who know the member hand the code over).

import { api } from "../api.js";
import { h, roleName } from "../dom.js";
import { field, errorSummary, showPasswordToggle } from "../forms.js";
import { dmSettings } from "./dm_settings.js";

function newPasswordProblem(value) {
  return [...value].length < 10 ? "The new password needs at least 10 characters." : "";
}

export function showAccount(main, app) {
  document.title = "Your account · Kindred";
  const summary = errorSummary();
  const current = field({ label: "Current password", name: "current", type: "password", autocomplete: "current-password" });
  const fresh = field({ label: "New password", name: "new", type: "password", autocomplete: "new-password", hint: "At least 10 characters. A short sentence is easy to remember." });
  const done = h("p", { role: "status" });
  const button = h("button", { type: "submit", class: "button" }, "Change password");
  const form = h("form", { novalidate: true, "aria-labelledby": "password-title" },
    summary.box,
    h("h2", { id: "password-title" }, "Change your password"),
    h("p", { class: "hint" }, "Your other devices will be signed out; this one stays signed in."),
    current.wrapper, fresh.wrapper, showPasswordToggle(fresh.input),
    h("div", { class: "actions" }, button),
    done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    summary.clear();
    done.textContent = "";
    current.setError("");
    fresh.setError("");
    const problems = [];
    if (!current.input.value) {
      current.setError("Enter your current password.");
      problems.push({ text: "Enter your current password.", field: current });
    }
    const weak = newPasswordProblem(fresh.input.value);
    if (weak) {
      fresh.setError(weak);
      problems.push({ text: weak, field: fresh });
    }
    if (problems.length) {
      summary.show("Please check the form", problems);
      return;
    }
    button.disabled = true;
    try {
      await api.post("/api/password", { current_password: current.input.value, new_password: fresh.input.value });
      current.input.value = "";
      fresh.input.value = "";
      done.textContent = "Your password is changed. Your other devices have been signed out.";
    } catch (err) {
      let text = "Something went wrong. Please try again in a moment.";
      if (err.code === "wrong_password") {
        current.setError("That is not your current password.");
        summary.show("We could not change your password", [{ text: "That is not your current password.", field: current }]);
        return;
      }
      if (err.code === "too_many_attempts") text = "Too many attempts. Please wait a few minutes and try again.";
      summary.show("We could not change your password", [{ text }]);
    } finally {
      button.disabled = false;
    }
  });
  main.appendChild(h("div", {},
    h("h1", {}, "Your account"),
    h("p", {}, "Your handle is ", h("strong", {}, app.user.handle), ` (${roleName(app.user.role)}). Everyone in the rooms sees it; nobody sees your email.`),
    h("div", { class: "form-card" }, form),
    dmSettings(app).panel));
  return {};
}

export function showReset(main, app) {
  document.title = "Reset your password · Kindred";
  const summary = errorSummary();
  const email = field({ label: "Email address", name: "email", type: "email", autocomplete: "username", inputmode: "email", autocapitalize: "none", spellcheck: false });
  const code = field({ label: "Reset code", name: "code", hint: "Your organization's admin gives you this code. It works once, within a day.", autocapitalize: "none", spellcheck: false });
  const fresh = field({ label: "New password", name: "new", type: "password", autocomplete: "new-password", hint: "At least 10 characters." });
  const button = h("button", { type: "submit", class: "button" }, "Set new password");
  const form = h("form", { novalidate: true, "aria-labelledby": "reset-title" },
    summary.box,
    h("h2", { id: "reset-title", class: "visually-hidden" }, "Reset your password"),
    email.wrapper, code.wrapper, fresh.wrapper, showPasswordToggle(fresh.input),
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    summary.clear();
    for (const f of [email, code, fresh]) f.setError("");
    const problems = [];
    if (!email.input.value.trim()) problems.push({ text: "Enter your email address.", field: email });
    if (!code.input.value.trim()) problems.push({ text: "Enter the reset code.", field: code });
    const weak = newPasswordProblem(fresh.input.value);
    if (weak) problems.push({ text: weak, field: fresh });
    if (problems.length) {
      for (const p of problems) p.field.setError(p.text);
      summary.show("Please check the form", problems);
      return;
    }
    button.disabled = true;
    try {
      await api.post("/api/password/reset", { email: email.input.value.trim(), code: code.input.value.trim(), new_password: fresh.input.value });
      app.signedOutMessage = "Your password is changed. Please sign in with it.";
      app.navigate("#/signin");
    } catch (err) {
      let text = "Something went wrong. Please try again in a moment.";
      if (err.code === "invalid_code") text = "That code does not work for this email address. It may be used or expired: ask for a new one.";
      else if (err.code === "too_many_attempts") text = "Too many attempts. Please wait a few minutes and try again.";
      summary.show("We could not reset your password", [{ text }]);
    } finally {
      button.disabled = false;
    }
  });
  main.appendChild(h("div", { class: "auth" },
    h("h1", {}, "Reset your password"),
    h("p", {}, "Kindred never sends email. If you forgot your password, ask your organization's admin or your navigator for a reset code."),
    h("div", { class: "form-card" }, form),
    h("p", {}, h("a", { href: "#/signin" }, "Back to sign in"))));
  return {};
}
