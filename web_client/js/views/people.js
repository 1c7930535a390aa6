// Who is here now (protocol §5.4: a snapshot, then set operations by id) and who is typing.

import { h, replace, roleBadge, uid } from "../dom.js";

const TYPING_SHOWN_MS = 6000; // twice the server's typing interval (§4.5)

export class People {
  constructor(me) {
    this.me = me;
    this.present = new Map();
    this.typing = new Map(); // id -> {handle, until}
    const headingId = uid("people");
    this.heading = h("h2", { id: headingId }, "Here now");
    this.list = h("ul", { class: "people" });
    this.panel = h("section", { class: "panel", "aria-labelledby": headingId }, this.heading, this.list);
    // Not a live region: typing notices come and go too often to be read out.
    this.typingLine = h("p", { class: "typing" });
    this.timer = setInterval(() => this.renderTyping(), 1000);
  }

  snapshot(members) {
    this.present = new Map(members.map((m) => [m.id, m]));
    this.render();
  }

  /** A presence frame: everyone who came and everyone who went, applied as set operations. */
  changed(joined, left) {
    for (const member of joined) this.present.set(member.id, member);
    for (const member of left) {
      this.present.delete(member.id);
      this.typing.delete(member.id);
    }
    this.render();
    if (left.length) this.renderTyping();
  }

  render() {
    const members = [...this.present.values()].sort((a, b) =>
      a.handle.localeCompare(b.handle, undefined, { sensitivity: "base" }));
    this.heading.textContent = `Here now (${members.length})`;
    replace(this.list, members.map((m) => h("li", {},
      h("span", {}, m.handle), roleBadge(m.role),
      this.me && m.id === this.me.id ? h("span", { class: "hint" }, "(you)") : null)));
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
