// What can be done with a message: reply, open its thread, and behind "More": report and block
// for everyone; remove, mute and kick for the room's staff. Each asks before it acts.

import { h, replace, uid, focusOn } from "../dom.js";
import { field } from "../forms.js";
import { roomHash } from "../router.js";

const RANK = { member: 0, expert: 1, navigator: 2, org_admin: 3, admin: 4 };
const STAFF_ROLES = new Set(["navigator", "org_admin", "admin"]);

const MUTE_CHOICES = [
  ["600", "10 minutes"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "1 week"], ["", "Until a navigator unmutes them"],
];
const KICK_CHOICES = [["600", "10 minutes"], ["3600", "1 hour"], ["86400", "1 day"]];

function choiceField(label, choices) {
  const id = uid("choice");
  const select = h("select", { id }, choices.map(([value, text]) => h("option", { value }, text)));
  return { wrapper: h("div", { class: "field" }, h("label", { for: id }, label), select), select };
}

/**
 * A small form inside the message: a question, optional fields, a confirm and a cancel button.
 * run() returns a promise; its resolved text is shown (role=status), a rejection's text too.
 */
function inlineForm(panel, { title, explain, fields = [], confirm, danger, run, restore }) {
  const status = h("p", { role: "status" });
  const go = h("button", { type: "submit", class: `button button--small${danger ? " button--danger" : ""}` }, confirm);
  const cancel = h("button", { type: "button", class: "button button--quiet button--small", onclick: restore }, "Cancel");
  const form = h("form", { class: "mod-form", novalidate: true },
    h("p", {}, h("strong", {}, title)),
    explain ? h("p", { class: "hint" }, explain) : null,
    fields.map((f) => f.wrapper),
    h("div", { class: "actions" }, go, cancel),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    go.disabled = true;
    try {
      const done = await run();
      replace(panel, h("p", { role: "status", class: "notice" }, done),
        h("button", { type: "button", class: "button button--quiet button--small", onclick: restore }, "Close"));
      focusOn(panel.querySelector("p"));
    } catch (err) {
      status.textContent = err && err.message ? err.message : "That did not work. Please try again.";
      go.disabled = false;
    }
  });
  replace(panel, form);
  form.scrollIntoView({ block: "nearest" });
  const first = form.querySelector("select, textarea, input") || go;
  first.focus({ preventScroll: true });
}

function reasonField(label, hint) {
  return field({ label, name: "reason", multiline: true, rows: 2, maxlength: 500, hint });
}

function requireReason(f) {
  const text = f.input.value.trim();
  if (!text) {
    f.setError("Please write a short reason. The member is shown it.");
    f.input.focus();
    throw new Error("A reason is needed.");
  }
  f.setError("");
  return text;
}

export function messageActions(msg, ctx) {
  const author = msg.author || {};
  const myRank = RANK[ctx.me ? ctx.me.role : "member"] ?? 0;
  const theirRank = RANK[author.role] ?? 0;
  const canActOnAuthor = ctx.staff && !ctx.mine && theirRank < myRank;
  const panelId = uid("more");
  const panel = h("div", { class: "message__more", id: panelId, hidden: true });
  const more = h("button", {
    type: "button", class: "link-button", "aria-expanded": "false", "aria-controls": panelId,
    "aria-label": `More actions for the message from ${author.handle || "someone"}`,
  }, "More");

  function buttons() {
    const list = [];
    if (!ctx.mine) {
      list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: reportForm }, "Report"));
      if (!STAFF_ROLES.has(author.role)) {
        list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: blockForm }, `Block ${author.handle}`));
      }
    }
    if (ctx.staff) {
      list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: removeForm }, "Remove message"));
      list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: pinForm }, "Pin to the top of the room"));
    }
    if (canActOnAuthor) {
      list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: muteForm }, `Mute ${author.handle}`));
      list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: kickForm }, `Remove ${author.handle} from the room`));
    }
    list.push(h("button", { type: "button", class: "button button--quiet button--small", onclick: copyLink }, "Copy a link to this message"));
    if (ctx.mine) list.push(h("p", { class: "hint message__more-note" }, "Editing and deleting your own messages is not possible yet."));
    return list;
  }
  const restore = () => {
    replace(panel, buttons());
    more.focus();
  };

  /** A link that opens this message in its room (its thread), for the clipboard. */
  async function copyLink() {
    const url = `${location.origin}${location.pathname}${roomHash(ctx.room, msg.thread_root || msg.id)}`;
    const status = h("p", { role: "status", class: "notice" });
    const close = h("button", { type: "button", class: "button button--quiet button--small", onclick: restore }, "Close");
    try {
      await navigator.clipboard.writeText(url);
      status.textContent = "The link is copied. Only members who can open this room can follow it.";
      replace(panel, status, close);
    } catch {
      // No clipboard here (permissions, an older browser): show the link to copy by hand.
      const id = uid("link");
      const input = h("input", { type: "text", id, readonly: true, value: url });
      replace(panel, h("div", { class: "field" }, h("label", { for: id }, "Link to this message (select it and copy)"), input), close);
      input.select();
      return;
    }
    close.focus();
  }

  function reportForm() {
    const reason = reasonField("What is wrong with this message?", ctx.private
      ? "Your organization's navigators see this one message, not the rest of the conversation, and that the report came from you. The author is not told who reported it."
      : "Only the navigators see your report, and they see that it came from you. The author is not told who reported it.");
    inlineForm(panel, {
      title: "Report this message to a navigator", fields: [reason], confirm: "Send report", restore,
      run: async () => {
        const text = requireReason(reason);
        await ctx.report(msg, text);
        return "Thank you. A navigator will look at it.";
      },
    });
  }
  function blockForm() {
    inlineForm(panel, {
      title: `Block ${author.handle}?`,
      explain: "You will no longer see their messages. They are not told. You can unblock them later from this room's people list.",
      confirm: "Block", restore,
      run: async () => {
        await ctx.block(author);
        return `You have blocked ${author.handle}.`;
      },
    });
  }
  function removeForm() {
    const reason = reasonField("Reason (the author is shown it)");
    inlineForm(panel, {
      title: "Remove this message for everyone?", fields: [reason], confirm: "Remove message", danger: true, restore,
      run: async () => {
        const text = requireReason(reason);
        await ctx.moderate({ action: "remove", message: msg.id, reason: text });
        return "The message was removed.";
      },
    });
  }
  function pinForm() {
    inlineForm(panel, {
      title: "Pin this message to the top of the room?",
      explain: "Everyone sees it above the conversation until it is taken down. Pin resources: a phone line, a link, an event.",
      confirm: "Pin", restore,
      run: async () => {
        await ctx.moderate({ action: "pin", message: msg.id });
        return "The message is pinned.";
      },
    });
  }
  function muteForm() {
    const length = choiceField("For how long?", MUTE_CHOICES);
    const reason = reasonField(`Reason (${author.handle} is shown it)`);
    inlineForm(panel, {
      title: `Mute ${author.handle}? They can still read the room.`, fields: [length, reason], confirm: "Mute", danger: true, restore,
      run: async () => {
        const text = requireReason(reason);
        const frame = { action: "mute", user: author.id, reason: text };
        if (length.select.value) frame.duration_s = Number(length.select.value);
        await ctx.moderate(frame);
        return `${author.handle} is muted.`;
      },
    });
  }
  function kickForm() {
    const length = choiceField("They may come back after", KICK_CHOICES);
    const reason = reasonField(`Reason (${author.handle} is shown it)`);
    inlineForm(panel, {
      title: `Remove ${author.handle} from the room for a while?`, fields: [length, reason], confirm: "Remove from room", danger: true, restore,
      run: async () => {
        const text = requireReason(reason);
        await ctx.moderate({ action: "kick", user: author.id, reason: text, duration_s: Number(length.select.value) });
        return `${author.handle} was removed from the room.`;
      },
    });
  }

  more.addEventListener("click", () => {
    const open = more.getAttribute("aria-expanded") === "true";
    more.setAttribute("aria-expanded", String(!open));
    panel.hidden = open;
    if (!open) {
      replace(panel, buttons());
      // The last message's menu opens below the fold: bring all of it into view.
      panel.scrollIntoView({ block: "nearest" });
    }
  });

  const reply = h("button", {
    type: "button", class: "link-button",
    "aria-label": `Reply to ${author.handle || "this message"}`,
    onclick: () => ctx.onReply(msg),
  }, "Reply");

  return h("div", {},
    h("div", { class: "message__actions" },
      reply,
      ctx.inThread ? null : threadButton(msg, ctx),
      more),
    panel);
}

/** "2 replies" (opens the thread); empty for a message nobody answered. */
export function threadButton(msg, ctx) {
  const root = msg.thread_root || msg.id;
  const count = ctx.replyCount ? ctx.replyCount(root) : 0;
  const label = msg.thread_root ? "Open thread" : count === 1 ? "1 reply" : `${count} replies`;
  if (!msg.thread_root && count === 0) return null;
  return h("button", {
    type: "button", class: "link-button thread-link",
    "aria-label": msg.thread_root ? "Open the thread" : `${label}: open the thread`,
    onclick: () => ctx.onOpenThread(root),
  }, label);
}
