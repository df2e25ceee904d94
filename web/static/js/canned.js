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
    this.query = "";
    this.loads = 0; // counts the lists asked for: only the last one's answer is kept
    this.search = h("input", { type: "search", class: "canned-search", "aria-label": "Search canned replies", placeholder: "Search canned replies…",
      oninput: () => this.filter(this.search.value), onkeydown: (e) => this.key(e) });
    this.head = h("div", { class: "canned-head" }, this.search,
      h("button", { type: "button", class: "secondary", "data-testid": "canned-manage", onclick: () => {
        this.close();
        manageCanned(this.api);
      } }, "My replies…"));
    this.list = h("ul", { class: "canned-list", role: "listbox", "aria-label": "Canned replies" });
    this.el = h("div", { class: "canned-picker", "data-testid": "canned-picker", hidden: true }, this.head, this.list);
  }

  get isOpen() { return !this.el.hidden; }

  /** open shows the picker filtered by query; withSearch focuses its search
   * box. It asks the hub for the list when it was closed; while open (a
   * "/shortcut" being typed) it filters what it has. */
  async open(query = "", { withSearch = false } = {}) {
    const wasOpen = this.isOpen;
    this.el.hidden = false;
    this.head.hidden = !withSearch;
    if (withSearch) this.search.value = query;
    this.query = query;
    this.filter(query);
    if (withSearch) this.search.focus();
    if (wasOpen) return;
    const n = ++this.loads;
    let list = [];
    try {
      list = (await this.api.get("/api/v1/canned-replies")).canned_replies || [];
    } catch {
      /* none then */
    }
    if (n !== this.loads) return;
    this.replies = list;
    if (this.isOpen) this.filter(this.head.hidden ? this.query : this.search.value);
  }

  close() {
    this.el.hidden = true;
  }

  get searching() { return this.isOpen && !this.head.hidden; }

  filter(query) {
    this.query = query;
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

/** manageCanned opens a dialog in which the agent lists, adds and deletes
 * its personal canned replies (shared ones are kept over REST, docs/api.md). */
export async function manageCanned(api) {
  const list = h("ul", { class: "canned-list", "aria-label": "My canned replies" });
  const error = h("p", { class: "error", role: "alert" });
  const shortcut = h("input", { name: "shortcut", required: true, maxlength: "32", pattern: "[a-z0-9_\\-]{1,32}", placeholder: "greet",
    title: "1 to 32 lowercase letters, digits, _ or -", "aria-label": "Shortcut" });
  const title = h("input", { name: "title", required: true, maxlength: "100", "aria-label": "Title" });
  const text = h("textarea", { name: "text", required: true, maxlength: "4000", rows: "3", "aria-label": "Text",
    placeholder: "Hello {{customer.name}}, I am {{agent.name}}." });
  const load = async () => {
    let mine = [];
    try {
      mine = ((await api.get("/api/v1/canned-replies")).canned_replies || []).filter((r) => r.scope === "personal");
    } catch (err) {
      error.textContent = err.message;
    }
    list.replaceChildren(...mine.map((r) => h("li", { class: "canned-item", "data-testid": "canned-mine", "data-shortcut": r.shortcut },
      h("div", { class: "canned-row" }, h("span", {}, h("strong", {}, "/" + r.shortcut), " ", h("span", { class: "canned-title" }, r.title)),
        h("button", { type: "button", class: "secondary", "aria-label": "Delete /" + r.shortcut, onclick: async () => {
          try {
            await api.del("/api/v1/canned-replies/" + encodeURIComponent(r.id));
            error.textContent = "";
          } catch (err) {
            error.textContent = err.message;
          }
          load();
        } }, "Delete")),
      h("div", { class: "canned-text muted" }, r.text))));
    if (!mine.length) list.append(h("li", { class: "muted" }, "No reply of your own yet."));
  };
  const dialog = h("dialog", { class: "dialog wide", "aria-label": "My canned replies", "data-testid": "canned-dialog" },
    h("form", { method: "dialog", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api.post("/api/v1/canned-replies", { shortcut: shortcut.value, title: title.value, text: text.value });
        error.textContent = "";
        shortcut.value = title.value = text.value = "";
        load();
      } catch (err) {
        error.textContent = err.message;
      }
    } },
      h("h2", {}, "My canned replies"),
      h("p", { class: "muted" }, "Type / and a shortcut in the composer to insert one; {{customer.name}} and {{agent.name}} are filled in. Shared replies are kept by supervisors."),
      list,
      h("label", {}, "Shortcut", shortcut), h("label", {}, "Title", title), h("label", {}, "Text", text), error,
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close"),
        h("button", { type: "submit", class: "primary" }, "Add reply"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  await load();
  shortcut.focus();
}
