// The question panel of a webinar or an Ask the Expert topic (docs/questions.md): ask (with an
// anonymous choice), upvote, sort by votes or newest, the pinned question highlighted, my
// questions awaiting review marked; for hosts and staff, the review queue and the actions.
// Screen readers hear a newly pinned question and an answer to one of my questions.

import { api, ApiError } from "../api.js";
import { h, replace, uid, announce, roleBadge, focusOn } from "../dom.js";
import { newCid } from "../socket.js";
import { resourceCard } from "./notices.js";

const STATUS_WORDS = { pending: "Awaiting review", dismissed: "Not taken" };

/** venue: {kind: "event" | "topic", id, title, room (joined for live frames), open} */
export class QuestionPanel {
  constructor(container, app, venue) {
    this.app = app;
    this.venue = venue;
    this.base = venue.kind === "event" ? `/api/events/${venue.id}/questions` : `/api/ask-the-expert/${venue.id}/questions`;
    this.questions = new Map(); // id -> question (with mine/voted where known)
    this.mine = new Set();
    this.order = "votes";
    this.manages = false;
    this.moderated = false;
    // Hosts' open forms (answer, dismiss, merge) by question id: {action, value}. Live frames
    // re-render the list; the forms are rebuilt from here, so typing is never lost.
    this.openForms = new Map();
    this.build(container);
    this.onFrame = (event) => this.frame(event.detail);
    if (app.conn) {
      app.conn.addEventListener("frame", this.onFrame);
      if (venue.room) app.conn.track(venue.room, { since: () => null, onFrame: () => {} });
    }
    this.load();
  }

  cleanup() {
    if (this.app.conn) {
      this.app.conn.removeEventListener("frame", this.onFrame);
      if (this.venue.room) this.app.conn.untrack(this.venue.room);
    }
  }

  build(container) {
    const askId = uid("ask");
    const anonId = uid("anon");
    this.body = h("textarea", { id: askId, name: "body", rows: "3", maxlength: "4000", required: true });
    this.anon = h("input", { type: "checkbox", id: anonId, name: "anonymous" });
    this.formNote = h("p", { class: "hint", role: "status" });
    this.confirmRow = h("p", { class: "actions", hidden: true });
    const form = h("form", { class: "ask-form", onsubmit: (e) => { e.preventDefault(); this.ask(false); } },
      h("div", { class: "field" }, h("label", { for: askId }, "Your question"), this.body),
      h("div", { class: "field field--check" }, this.anon,
        h("label", { for: anonId }, "Ask without showing my name (hosts see “a member”)")),
      h("p", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Ask")),
      this.formNote, this.confirmRow);
    this.askSection = h("section", { class: "panel", "aria-labelledby": `${askId}-h` },
      h("h2", { id: `${askId}-h` }, "Ask a question"), form);
    const sortName = uid("sort");
    const sorts = [["votes", "Most votes"], ["recent", "Newest"]].map(([value, label], i) => {
      const id = uid("sort");
      return h("label", { for: id }, h("input", {
        type: "radio", name: sortName, id, value, checked: i === 0,
        onchange: () => { this.order = value; this.load(); },
      }), label);
    });
    const reviewId = uid("review");
    this.reviewBox = h("input", { type: "checkbox", id: reviewId, name: "moderated",
      onchange: () => this.setModerated(this.reviewBox.checked) });
    this.reviewNote = h("p", { class: "hint", role: "status" });
    this.reviewRow = h("div", { hidden: true },
      h("div", { class: "field field--check" }, this.reviewBox,
        h("label", { for: reviewId }, "Review new questions before everyone sees them")),
      this.reviewNote);
    this.queueSection = h("section", { class: "panel", "aria-labelledby": "queue-h", hidden: true },
      h("h2", { id: "queue-h" }, "Awaiting review"), this.reviewRow, h("ul", { class: "question-list" }));
    const listId = uid("questions");
    this.list = h("ul", { class: "question-list" });
    this.count = h("p", { class: "hint" });
    this.resourcesBox = h("div");
    container.appendChild(h("div", { class: "questions" },
      this.resourcesBox,
      this.askSection,
      this.queueSection,
      h("section", { class: "panel", "aria-labelledby": listId },
        h("h2", { id: listId }, "Questions"),
        h("fieldset", { class: "kind-filter" }, h("legend", {}, "Sort by"),
          h("div", { class: "kind-filter__options" }, sorts)),
        this.count, this.list)));
    if (!this.venue.open) {
      replace(this.askSection, h("h2", {}, "Asking is closed"),
        h("p", {}, this.venue.kind === "topic"
          ? "This topic no longer takes questions. The answers appear below as the expert writes them."
          : "This session no longer takes questions."));
    }
  }

  async load() {
    try {
      const page = await api.get(`${this.base}?order=${this.order}&limit=200`);
      this.manages = page.manages;
      this.moderated = !!page.moderated;
      this.questions = new Map(page.questions.map((q) => [q.id, q]));
      for (const q of page.questions) if (q.author.mine) this.mine.add(q.id);
      this.render();
    } catch (err) {
      replace(this.list, h("li", { class: "notice notice--danger", role: "alert" },
        err instanceof ApiError && err.detail ? err.detail : "The questions could not be loaded. Please reload the page."));
    }
  }

  async ask(confirmPhi) {
    const body = this.body.value.trim();
    if (!body) {
      this.formNote.textContent = "Write your question first.";
      return;
    }
    this.confirmRow.hidden = true;
    try {
      const q = await api.post(this.base, { body, cid: newCid(), anonymous: this.anon.checked, confirm_phi: confirmPhi });
      this.mine.add(q.id);
      this.questions.set(q.id, q);
      this.body.value = "";
      this.formNote.textContent = q.status === "pending"
        ? "Thank you. Your question is waiting for the host to review it."
        : "Thank you. Your question is in the list.";
      this.render();
      if (q.resources) this.showResources(q.resources);
    } catch (err) {
      if (err.code === "confirm_phi") {
        this.formNote.textContent = err.detail;
        replace(this.confirmRow, h("button", { type: "button", class: "button button--quiet", onclick: () => this.ask(true) }, "Ask anyway"));
        this.confirmRow.hidden = false;
      } else {
        this.formNote.textContent = err.detail || "Your question could not be sent. Please try again.";
      }
    }
  }

  /** Hosts of a session turn the review of new questions on or off (audited on the server). */
  async setModerated(on) {
    try {
      const answer = await api.put(`${this.base}/settings`, { moderated: on });
      this.moderated = !!answer.moderated;
      this.reviewNote.textContent = this.moderated
        ? "New questions wait for your review before everyone sees them."
        : "New questions appear to everyone at once.";
    } catch (err) {
      this.reviewNote.textContent = err.detail || "That did not work. Please try again.";
    }
    this.reviewBox.checked = this.moderated;
  }

  /** As for a message (§4.17): the asker is shown where help is, privately, at once. */
  showResources(resources) {
    const card = resourceCard(resources, "question", () => this.resourcesBox.replaceChildren());
    replace(this.resourcesBox, card);
    announce("You are not alone. Help is listed on this page.");
    focusOn(card.querySelector("h2"));
  }

  frame(f) {
    if (f.type === "notification" && f.kind === "answered" && this.mine.has(f.question)) {
      announce("Your question was answered.");
      return;
    }
    if (f.type !== "question" || f[this.venue.kind] !== this.venue.id) return;
    const before = this.questions.get(f.id);
    if (before && before.version > f.version) return;
    const q = { ...f, author: { ...f.author, mine: this.mine.has(f.id) }, voted: before ? before.voted : false };
    if (f.reason === undefined && before && before.reason) q.reason = before.reason;
    this.questions.set(f.id, q);
    if (f.pinned && !(before && before.pinned)) announce(`Now being answered: ${f.body}`);
    if (this.mine.has(f.id) && f.status === "answered" && !(before && before.status === "answered")) {
      announce(`Your question was answered: ${f.answer ? f.answer.body : "the host answered it live."}`);
    }
    this.render();
  }

  sorted(items) {
    const byVotes = (a, b) => (b.pinned - a.pinned) || (b.votes - a.votes) || (b.at - a.at);
    return [...items].sort(this.order === "votes" ? byVotes : (a, b) => b.at - a.at);
  }

  render() {
    // Remember where the host is typing: the list is rebuilt, the same field is focused again.
    const active = document.activeElement;
    const focused = active && active.dataset && active.dataset.formFor
      ? { id: active.dataset.formFor, start: active.selectionStart, end: active.selectionEnd, tag: active.tagName }
      : null;
    const all = [...this.questions.values()];
    const shown = this.sorted(all.filter((q) => q.status === "open" || q.status === "answered" || this.mine.has(q.id)));
    const queue = this.manages ? this.sorted(all.filter((q) => q.status === "pending")) : [];
    replace(this.list, shown.length ? shown.map((q) => this.item(q)) : h("li", { class: "hint" }, "No questions yet. Yours could be the first."));
    this.count.textContent = shown.length === 1 ? "1 question." : `${shown.length} questions.`;
    this.queueSection.hidden = !this.manages;
    if (this.manages) {
      replace(this.queueSection.querySelector("ul"),
        queue.length ? queue.map((q) => this.item(q)) : h("li", { class: "hint" }, "Nothing is waiting for review."));
    }
    this.reviewRow.hidden = !(this.manages && this.venue.kind === "event");
    this.reviewBox.checked = this.moderated;
    if (focused) {
      const field = this.list.parentElement.parentElement.querySelector(`[data-form-for="${focused.id}"]`);
      if (field) {
        field.focus();
        if (focused.tag === "TEXTAREA" && focused.start !== null) field.setSelectionRange(focused.start, focused.end);
      }
    }
  }

  item(q) {
    const titleId = uid("q");
    const mine = this.mine.has(q.id);
    const status = STATUS_WORDS[q.status];
    const who = q.author.anonymous ? (mine ? "You (shown as “a member”)" : "A member") : (mine ? "You" : q.author.handle);
    const parts = [
      q.pinned ? h("p", { class: "question__pinned" }, "Being answered now") : null,
      h("p", { class: "question__meta" }, h("span", {}, who), " ", q.author.anonymous ? null : roleBadge(q.author.role),
        status ? h("span", { class: `badge badge--status badge--${q.status}` }, status) : null),
      h("p", { class: "question__body", id: titleId }, q.body),
      q.status === "dismissed" && q.reason ? h("p", { class: "hint" }, `The host’s note: ${q.reason}`) : null,
      q.answer ? h("div", { class: "question__answer" },
        h("p", { class: "question__meta" }, "Answer from ", h("strong", {}, q.answer.by.handle), " ", roleBadge(q.answer.by.role)),
        h("p", {}, q.answer.body)) : null,
      h("p", { class: "actions" }, this.voteButton(q, mine), this.manages ? this.hostButtons(q) : null),
      this.manages && this.openForms.has(q.id) ? this.hostForm(q, this.openForms.get(q.id)) : null,
    ];
    return h("li", { class: `question${q.pinned ? " question--pinned" : ""}`, "data-id": q.id },
      h("article", { "aria-labelledby": titleId }, parts));
  }

  voteButton(q, mine) {
    const label = `${q.votes} ${q.votes === 1 ? "vote" : "votes"}`;
    if (mine || q.status !== "open") return h("span", { class: "question__votes" }, label);
    return h("button", {
      type: "button", class: "button button--quiet button--small", "aria-pressed": q.voted ? "true" : "false",
      onclick: () => this.vote(q),
    }, q.voted ? `Voted · ${label}` : `Upvote · ${label}`);
  }

  async vote(q) {
    try {
      const answer = q.voted ? await api.del(`/api/questions/${q.id}/vote`) : await api.put(`/api/questions/${q.id}/vote`);
      const now = this.questions.get(q.id);
      if (now && now.version <= answer.version) this.questions.set(q.id, { ...now, votes: answer.votes, version: answer.version, voted: answer.voted });
      else if (now) now.voted = answer.voted;
      this.render();
    } catch (err) {
      announce(err.detail || "Your vote could not be counted. Please try again.");
    }
  }

  hostButtons(q) {
    const act = (action, extra = {}) => this.act(q, action, extra);
    const b = (text, onclick) => h("button", { type: "button", class: "button button--quiet button--small", onclick }, text);
    const out = [];
    if (q.status === "pending") out.push(b("Approve", () => act("approve")));
    if (q.status === "open" || q.status === "answered") out.push(q.pinned ? b("Unpin", () => act("unpin")) : b("Pin", () => act("pin")));
    if (q.status !== "dismissed") out.push(b("Answer", () => this.form(q, "answer")));
    if (q.status === "pending" || q.status === "open") {
      out.push(b("Dismiss", () => this.form(q, "dismiss")));
      out.push(b("Merge", () => this.form(q, "merge")));
    }
    return out;
  }

  /** Open a host's form under the question (one per question) and put the cursor in it. */
  form(q, action) {
    this.openForms.set(q.id, { action, value: action === "merge" ? null : "" });
    this.render();
    const field = this.list.parentElement.parentElement.querySelector(`[data-form-for="${q.id}"]`);
    if (field) field.focus();
  }

  closeForm(q) {
    this.openForms.delete(q.id);
    this.render();
  }

  hostForm(q, state) {
    const { action } = state;
    const id = uid("f");
    let field;
    let label;
    if (action === "merge") {
      label = "Merge into";
      const others = [...this.questions.values()].filter((o) => o.id !== q.id && o.status !== "dismissed");
      field = h("select", { id }, others.map((o) => h("option", { value: o.id, selected: o.id === state.value }, o.body.slice(0, 80))));
      if (state.value === null && others.length) state.value = others[0].id;
    } else {
      label = action === "answer" ? "Written answer (optional)" : "Reason (the author is shown it)";
      field = h("textarea", { id, rows: "3" });
      field.value = state.value;
    }
    field.dataset.formFor = q.id;
    const keep = () => { state.value = field.value; };
    field.addEventListener(action === "merge" ? "change" : "input", keep);
    const submit = action === "answer" ? "Mark answered" : action === "merge" ? "Merge" : "Dismiss";
    return h("form", { class: "question__form", onsubmit: (e) => {
      e.preventDefault();
      keep();
      const extra = action === "answer" ? { answer: field.value } : action === "merge" ? { into: field.value } : { reason: field.value };
      this.act(q, action, extra);
    } }, h("div", { class: "field" }, h("label", { for: id }, label), field),
    h("p", { class: "actions" }, h("button", { type: "submit", class: "button button--small" }, submit),
      h("button", { type: "button", class: "button button--quiet button--small", onclick: () => this.closeForm(q) }, "Cancel")));
  }

  async act(q, action, extra) {
    try {
      const after = await api.post(`/api/questions/${q.id}/action`, { action, ...extra });
      if (this.openForms.has(q.id) && this.openForms.get(q.id).action === action) this.openForms.delete(q.id);
      const now = this.questions.get(q.id);
      if (!now || now.version <= after.version) this.questions.set(q.id, after);
      this.render();
    } catch (err) {
      announce(err.detail || "That did not work. Please try again.");
    }
  }
}
