// A member's block list (GET/PUT/DELETE /api/blocks): blocked members' messages are hidden from
// them, and they are not told.

import { api } from "../api.js";
import { h, replace, uid } from "../dom.js";

export class BlockList {
  constructor(room) {
    this.room = room;
    this.blocked = [];
    const id = uid("blocks");
    this.list = h("ul", { class: "people" });
    this.status = h("p", { class: "hint", role: "status" });
    this.panel = h("section", { class: "panel", "aria-labelledby": id, hidden: true },
      h("h2", { id }, "People you have blocked"), this.list, this.status);
  }

  async load() {
    try {
      const data = await api.get("/api/blocks");
      this.blocked = data.blocked || [];
      this.render();
    } catch {
      // Blocking is not available on this server: nothing to show.
    }
  }

  render() {
    this.panel.hidden = this.blocked.length === 0 && !this.status.textContent;
    replace(this.list, this.blocked.map((member) => h("li", {},
      h("span", {}, member.handle),
      h("button", {
        type: "button", class: "button button--quiet button--small",
        onclick: () => this.unblock(member),
      }, `Unblock ${member.handle}`))));
  }

  async block(author) {
    await api.put(`/api/blocks/${encodeURIComponent(author.id)}`);
    if (!this.blocked.some((m) => m.id === author.id)) this.blocked.push(author);
    this.room.hideAuthor(author.id);
    this.status.textContent = "";
    this.render();
  }

  async unblock(member) {
    try {
      await api.del(`/api/blocks/${encodeURIComponent(member.id)}`);
      this.blocked = this.blocked.filter((m) => m.id !== member.id);
      this.status.textContent = `You have unblocked ${member.handle}. Their new messages will show; reload the room to see earlier ones.`;
    } catch {
      this.status.textContent = "That did not work. Please try again.";
    }
    this.render();
  }
}
