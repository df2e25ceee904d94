// canned.js: the desk's canned-reply picker. Typing "/" at the start of
// the composer opens it filtered by what follows ("/gre"); the Canned
// button opens it with a search box. Arrows move, Enter or a click
// inserts, Escape closes. {{customer.name}} and {{agent.name}} are filled
// in on insertion (docs/api.md, canned replies).

import { h } from "./dom.js";

/** fill replaces the placeholders of a canned reply's text. */
export function fill(text, { customer = "", agent = "" }) {
  return text.replaceAll("{{customer.name}}", customer).replaceAll("{{agent.name}}", agent);
}

export class CannedPicker {
  // api lists the replies (GET /api/v1/canned-replies); onPick receives the chosen one.
  constructor({ api, onPick }) {
    this.api = api;
    this.onPick = onPick;
    this.replies = [];
    this.shown = [];
    this.active = 0;
    this.search = h("input", { type: "search", class: "canned-search", "aria-label": "Search canned replies", placeholder: "Search canned replies…",
      oninput: () => this.filter(this.search.value), onkeydown: (e) => this.key(e) });
    this.list = h("ul", { class: "canned-list", role: "listbox", "aria-label": "Canned replies" });
    this.el = h("div", { class: "canned-picker", "data-testid": "canned-picker", hidden: true }, this.search, this.list);
  }

  get isOpen() { return !this.el.hidden; }

  /** open shows the picker filtered by query; withSearch focuses its search box. */
  async open(query = "", { withSearch = false } = {}) {
    this.el.hidden = false;
    this.search.hidden = !withSearch;
    this.search.value = withSearch ? query : "";
    try {
      this.replies = (await this.api.get("/api/v1/canned-replies")).canned_replies;
    } catch {
      this.replies = [];
    }
    this.filter(query);
    if (withSearch) this.search.focus();
  }

  close() {
    this.el.hidden = true;
  }

  filter(query) {
    const q = query.trim().toLowerCase();
    this.shown = this.replies.filter((r) => !q || r.shortcut.startsWith(q) || r.title.toLowerCase().includes(q) || r.text.toLowerCase().includes(q));
    this.active = 0;
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.shown.map((r, i) => h("li", {
      role: "option", class: "canned-item" + (i === this.active ? " active" : ""), "aria-selected": String(i === this.active),
      "data-testid": "canned-item", "data-shortcut": r.shortcut, onmousedown: (e) => { e.preventDefault(); this.pick(i); },
    }, h("strong", {}, "/" + r.shortcut), " ", h("span", { class: "canned-title" }, r.title),
      h("div", { class: "canned-text muted" }, r.text))));
    if (!this.shown.length) this.list.append(h("li", { class: "muted" }, "No canned reply matches"));
  }

  pick(i) {
    const r = this.shown[i];
    if (!r) return;
    this.close();
    this.onPick(r);
  }

  /** key handles a key of the composer or the search box; it reports whether it did. */
  key(e) {
    if (!this.isOpen) return false;
    switch (e.key) {
      case "ArrowDown":
        this.active = Math.min(this.active + 1, this.shown.length - 1);
        break;
      case "ArrowUp":
        this.active = Math.max(this.active - 1, 0);
        break;
      case "Enter":
        if (!this.shown.length) return false;
        this.pick(this.active);
        break;
      case "Escape":
        this.close();
        break;
      default:
        return false;
    }
    e.preventDefault();
    this.render();
    return true;
  }
}
