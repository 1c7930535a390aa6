// Who is here now (protocol §5.4: a snapshot, then set operations by id) and who is typing.
// In a big room the server sends a sample and a count (§4.1, §4.4); the whole list is asked
// for page by page (`members`, §3.8) only when the member opens it.

import { h, replace, roleBadge, uid } from "../dom.js";
import { personHash } from "../router.js";

const TYPING_SHOWN_MS = 6000; // twice the server's typing interval (§4.5)

export class People {
  constructor(me, askPage = () => false) {
    this.me = me;
    this.askPage = askPage; // (after) -> sent?; asks the server for a page of `members`
    this.present = new Map();
    this.count = 0;
    this.partial = false; // the list holds only some of those here
    this.paging = null;   // while pages arrive: the ids gathered so far
    this.next = null;     // the cursor of the next page, when there is one
    this.typing = new Map(); // id -> {handle, until}
    const headingId = uid("people");
    this.heading = h("h2", { id: headingId }, "Here now");
    this.list = h("ul", { class: "people" });
    this.more = h("p", { class: "people-more" });
    this.panel = h("section", { class: "panel", "aria-labelledby": headingId }, this.heading, this.list, this.more);
    // Not a live region: typing notices come and go too often to be read out.
    this.typingLine = h("p", { class: "typing" });
    this.timer = setInterval(() => this.renderTyping(), 1000);
  }

  snapshot(members, count) {
    this.present = new Map(members.map((m) => [m.id, m]));
    this.count = count ?? members.length;
    this.partial = this.count > this.present.size;
    this.paging = null;
    this.next = null;
    this.render();
  }

  /** A presence frame: everyone who came and everyone who went, applied as set operations;
   * in a big room (`partial`) only the new count. */
  changed(joined, left, count, partial) {
    if (partial) {
      this.partial = true;
    } else if (this.partial && count !== undefined) {
      // Back to a small room (the server names changes again): what we hold may be out of
      // date, so ask for the list anew.
      this.partial = false;
      this.showAll();
    }
    for (const member of joined) this.present.set(member.id, member);
    for (const member of left) {
      this.present.delete(member.id);
      this.typing.delete(member.id);
    }
    this.count = count ?? this.present.size;
    this.render();
    if (left.length) this.renderTyping();
  }

  /** Ask for the whole list, first page first. */
  showAll() {
    if (this.askPage(null)) {
      this.paging = new Map();
      this.renderMore();
    }
  }

  /** A `members` page (§3.8). */
  page(members, next, count) {
    if (this.paging === null) return; // not asked for (or the room was joined again)
    for (const m of members) this.paging.set(m.id, m);
    this.count = count;
    this.next = next;
    if (next === null) {
      this.present = this.paging;
      this.paging = null;
      this.partial = this.count > this.present.size;
      this.render();
    } else if (this.paging.size < 1000 && this.askPage(next)) {
      return; // keep going; a very big room's list stops at a thousand, with a way on
    } else {
      this.present = this.paging;
      this.paging = null;
      this.render();
    }
  }

  render() {
    const members = [...this.present.values()].sort((a, b) =>
      a.handle.localeCompare(b.handle, undefined, { sensitivity: "base" }));
    this.heading.textContent = `Here now (${Math.max(this.count, members.length)})`;
    replace(this.list, members.map((m) => h("li", {},
      h("a", { href: personHash(m.id) }, m.handle), roleBadge(m.role),
      this.me && m.id === this.me.id ? h("span", { class: "hint" }, "(you)") : null)));
    this.renderMore();
  }

  renderMore() {
    const shown = this.present.size;
    if (this.paging !== null) {
      replace(this.more, h("span", { class: "hint" }, "Loading everyone here…"));
    } else if (this.partial && this.count > shown) {
      const label = this.next ? "Show more people" : "Show everyone here";
      replace(this.more,
        h("span", { class: "hint" }, `Showing ${shown} of ${this.count}.`),
        h("button", { type: "button", class: "link-button",
          onclick: () => (this.next ? this.continuePaging() : this.showAll()) }, label));
    } else {
      replace(this.more);
    }
  }

  continuePaging() {
    const after = this.next;
    this.paging = new Map(this.present);
    if (!this.askPage(after)) this.paging = null;
    this.renderMore();
  }

  typed(user) {
    if (!user || (this.me && user.id === this.me.id)) return;
    this.typing.set(user.id, { handle: user.handle, until: Date.now() + TYPING_SHOWN_MS });
    this.renderTyping();
  }

  /** Someone's message arrived: they have stopped typing. */
  spoke(userId) {
    if (this.typing.delete(userId)) this.renderTyping();
  }

  renderTyping() {
    const now = Date.now();
    for (const [id, t] of this.typing) if (t.until <= now) this.typing.delete(id);
    const names = [...this.typing.values()].map((t) => t.handle);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    if (this.typingLine.textContent !== text) this.typingLine.textContent = text;
  }

  close() {
    clearInterval(this.timer);
  }
}
