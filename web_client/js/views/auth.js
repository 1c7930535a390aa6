// Sign in and register. Plain language, one column, every field labelled and explained.

import { api } from "../api.js";
import { h } from "../dom.js";
import { field, errorSummary, showPasswordToggle } from "../forms.js";

const HANDLE_HINT =
  "Everyone in the rooms sees your handle. Do not use your real name or anything that " +
  "could identify you, such as your initials with a birth year. For example: QuietHeron or SunnyDay_7.";

/** Check a handle as the server will (rooms/handles.py), to answer before the round trip. */
export function handleProblem(raw) {
  const handle = raw.trim();
  if (/^\p{Lu}\p{Ll}+\s+\p{Lu}[\p{Ll}'-]+$/u.test(handle)) {
    return "This looks like a real name. Your handle is public, so please choose a nickname instead, like QuietHeron.";
  }
  if (/\s/.test(handle)) return "A handle is one word, without spaces. For example: Sunny_Day.";
  if (handle.length < 3 || handle.length > 32) return "A handle has 3 to 32 characters.";
  if (handle.includes("@")) return "A handle must not look like an email address.";
  if ((handle.match(/[0-9]/g) || []).length >= 7) return "A handle must not look like a phone number.";
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(handle)) {
    return "Use letters, digits, dots (.), underscores (_) and hyphens (-), starting with a letter or digit.";
  }
  return "";
}

function page(title, intro, form, footer) {
  document.title = `${title} · Kindred`;
  return h("div", { class: "auth" },
    h("h1", {}, title),
    intro,
    h("div", { class: "form-card" }, form),
    footer,
  );
}

async function signInAndStart(email, password, startSession, app) {
  const result = await api.signIn(email, password);
  await startSession(result.user);
  app.navigate(app.takeAfterSignIn());
}

export function showSignIn(main, app, startSession) {
  const summary = errorSummary();
  const email = field({ label: "Email address", name: "email", type: "email", autocomplete: "username", required: true, inputmode: "email", autocapitalize: "none", spellcheck: false });
  const password = field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "button" }, "Sign in");
  const form = h("form", { novalidate: true, "aria-labelledby": "signin-title" },
    summary.box,
    h("h2", { id: "signin-title", class: "visually-hidden" }, "Sign in"),
    email.wrapper, password.wrapper, showPasswordToggle(password.input),
    h("div", { class: "actions" }, button),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    summary.clear();
    email.setError("");
    password.setError("");
    const problems = [];
    if (!email.input.value.trim()) {
      email.setError("Enter your email address.");
      problems.push({ text: "Enter your email address.", field: email });
    }
    if (!password.input.value) {
      password.setError("Enter your password.");
      problems.push({ text: "Enter your password.", field: password });
    }
    if (problems.length) {
      summary.show("Please check the form", problems);
      return;
    }
    button.disabled = true;
    try {
      await signInAndStart(email.input.value.trim(), password.input.value, startSession, app);
    } catch (err) {
      let text = "Something went wrong. Please try again in a moment.";
      if (err.code === "invalid_credentials") text = "That email and password do not match. Please check them and try again.";
      else if (err.code === "too_many_attempts") text = "Too many attempts. Please wait a few minutes and try again.";
      else if (err.code === "network") text = err.detail;
      summary.show("We could not sign you in", [{ text }]);
    } finally {
      button.disabled = false;
    }
  });
  const notice = app.signedOutMessage ? h("p", { class: "notice", role: "status" }, app.signedOutMessage) : null;
  app.signedOutMessage = "";
  main.appendChild(page("Sign in",
    [notice, h("p", {}, "Welcome back. Sign in to join your rooms.")],
    form,
    [h("p", {}, "New here? ", h("a", { href: "#/register" }, "Create an account"), " with the key phrase your care team gave you."),
      h("p", {}, "Forgot your password? ", h("a", { href: "#/reset" }, "Reset it with a code"), " from your organization.")],
  ));
  return {};
}

export function showRegister(main, app, startSession) {
  const summary = errorSummary();
  const key = field({ label: "Organization key phrase", name: "key_phrase", hint: "Your cancer center or support group gives you this phrase. It tells us which organization you belong to.", required: true, autocapitalize: "none", spellcheck: false });
  const handle = field({ label: "Handle (public name)", name: "handle", hint: HANDLE_HINT, required: true, autocomplete: "nickname", maxlength: 32, autocapitalize: "none", spellcheck: false });
  const email = field({ label: "Email address", name: "email", type: "email", hint: "Used only to sign in. Never shown to anyone.", autocomplete: "email", required: true, inputmode: "email", autocapitalize: "none", spellcheck: false });
  const password = field({ label: "Password", name: "password", type: "password", hint: "At least 10 characters. A short sentence is easy to remember.", autocomplete: "new-password", required: true });
  const button = h("button", { type: "submit", class: "button" }, "Create account");
  const form = h("form", { novalidate: true, "aria-labelledby": "register-title" },
    summary.box,
    h("h2", { id: "register-title", class: "visually-hidden" }, "Create an account"),
    key.wrapper, handle.wrapper, email.wrapper, password.wrapper, showPasswordToggle(password.input),
    h("div", { class: "actions" }, button),
  );
  const fields = { key_phrase: key, handle, email, password };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    summary.clear();
    for (const f of Object.values(fields)) f.setError("");
    const problems = [];
    const complain = (f, text) => {
      f.setError(text);
      problems.push({ text, field: f });
    };
    if (!key.input.value.trim()) complain(key, "Enter the key phrase from your organization.");
    const handleText = handleProblem(handle.input.value);
    if (handleText) complain(handle, handleText);
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.input.value.trim())) complain(email, "Enter an email address, like name@example.org.");
    if ([...password.input.value].length < 10) complain(password, "Your password needs at least 10 characters.");
    if (problems.length) {
      summary.show("Please check the form", problems);
      return;
    }
    button.disabled = true;
    const values = {
      key_phrase: key.input.value.trim(),
      handle: handle.input.value.trim(),
      email: email.input.value.trim(),
      password: password.input.value,
    };
    let registered = false;
    try {
      // The answer is the same whether or not the email already had an account (the server
      // does not tell, on purpose); signing in with the new password then tells the person.
      await api.register(values);
      registered = true;
      await signInAndStart(values.email, values.password, startSession, app);
    } catch (err) {
      if (registered && err.code === "invalid_credentials") {
        summary.show("We could not sign you in", [{ text: "This email address may already have an account. If it is yours, sign in with that account's password, or ask your care team for a reset code." }]);
        return;
      }
      const byCode = {
        invalid_key_phrase: [key, "That key phrase is not right. Please check it with your care team."],
        invalid_handle: [handle, err.detail || "That handle cannot be used."],
        handle_taken: [handle, "Someone already uses that handle. Please choose another."],
        invalid_email: [email, "Enter an email address, like name@example.org."],
      };
      const known = byCode[err.code];
      if (known) complain(known[0], known[1]);
      else if (err.code === "too_many_attempts") problems.push({ text: "Too many attempts. Please wait a few minutes and try again." });
      else if (err.code === "network") problems.push({ text: err.detail });
      else problems.push({ text: "Something went wrong. Please try again in a moment." });
      summary.show("We could not create your account", problems);
    } finally {
      button.disabled = false;
    }
  });

  main.appendChild(page("Create an account",
    h("p", {}, "Kindred rooms are for people living with cancer and the people who care for them. You will choose a public handle; nobody else sees your email."),
    form,
    h("p", {}, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in")),
  ));
  return {};
}
