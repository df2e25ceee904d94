// desk.js: what the agent desktop and the supervisor view share: a
// session's model built from its events, the chat pane that shows one
// session, the sign-in form, and small DOM helpers. Text is always
// rendered as text (textContent), never parsed as HTML.

import { Client, request } from "./api.js";
import { callNote } from "./call.js";
import { ACCEPT, fileView, uploadFile } from "./files.js";
import { CannedPicker, fill } from "./canned.js";
import { Connection, deviceID, wsURL } from "./conn.js";
import { TICKS, TICK_LABEL, h, tickState } from "./dom.js";

export { h };
export const base = location.origin;

// tenant is the tenant this page is for when its URL names one
// (/agent?tenant=acme; "" otherwise): sign-in, the socket and REST calls
// carry it (docs/api.md, "Which tenant a request is for"). A host such as
// acme.chat.example.com names its tenant by itself.
export const tenant = new URLSearchParams(location.search).get("tenant") || "";

// pageURL is the address of one of the hub's pages (/agent, /supervisor)
// for this page's tenant.
export function pageURL(path) {
  return tenant ? path + "?tenant=" + encodeURIComponent(tenant) : path;
}

// ago formats a duration in seconds as "42s", "5m", "2h 10m".
export function ago(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  return Math.floor(s / 3600) + "h " + (Math.floor(s / 60) % 60) + "m";
}

export function time(at) {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// SessionModel is one session as its events tell it, plus what REST adds
// (the customer's name and e-mail, the title).
export class SessionModel {
  constructor(id) {
    this.id = id;
    this.info = null; // the native session from GET /api/v1/sessions/{id}
    this.state = "";
    this.agentID = "";
    this.agentName = "";
    this.offerDeadline = 0;
    this.items = []; // messages and notes, in seq order
    this.lastSeq = 0;
    this.lastCustomerSeq = 0;
    this.markers = {}; // "role:id" -> {read, delivered}
    this.waitingSince = 0; // ms: the customer's oldest unanswered message
    this.ended = false;
    this.rating = null;
    this.typing = null; // {name, until}
    this.callMedia = {}; // call id -> audio or video, from call.ringing
  }

  marker(role, id) {
    return (this.markers[role + ":" + id] ??= { read: 0, delivered: 0 });
  }

  // customerMarker is the furthest read and delivered marker of the customer.
  get customerMarker() {
    const m = { read: 0, delivered: 0 };
    for (const [who, v] of Object.entries(this.markers)) {
      if (who.startsWith("customer:")) {
        m.read = Math.max(m.read, v.read);
        m.delivered = Math.max(m.delivered, v.delivered, v.read);
      }
    }
    return m;
  }

  unreadFor(role, id) {
    const read = this.marker(role, id).read;
    return this.items.filter((it) => it.kind === "msg" && it.from.role === "customer" && it.seq > read).length;
  }

  apply(f) {
    this.firstSeq ||= f.seq; // above 1 when the hub could not replay the start (resync)
    this.lastSeq = f.seq;
    switch (f.type) {
      case "session.created":
        this.state = f.state;
        this.createdAt = Date.parse(f.at);
        break;
      case "session.state":
        this.state = f.state;
        this.agentID = f.agent_id || "";
        this.agentName = f.agent_name || "";
        this.offerDeadline = 0;
        if (f.state === "WaitingForAgentAnswering" && f.expires_ms) {
          const fromEvent = Date.parse(f.at) + f.expires_ms;
          this.offerDeadline = Math.min(fromEvent, Date.now() + f.expires_ms);
        }
        break;
      case "member.joined":
        if (f.from.role === "agent") this.note(f, `${f.from.name} joined`);
        break;
      case "member.left":
        if (f.from.role === "agent") this.note(f, `${f.from.name || "The agent"} left`);
        break;
      case "message.created":
        this.items.push({ kind: "msg", seq: f.seq, from: f.from, text: f.message.text, file: f.message.file, cmid: f.message.client_msg_id, at: f.at });
        if (f.from.role === "customer") {
          this.lastCustomerSeq = f.seq;
          if (!this.waitingSince) this.waitingSince = Date.parse(f.at);
        } else {
          this.waitingSince = 0;
        }
        this.typing = null;
        break;
      case "note.created": // a private note: staff only (docs/protocol.md, send)
        this.items.push({ kind: "msg", private: true, seq: f.seq, from: f.from, text: f.message.text, cmid: f.message.client_msg_id, at: f.at });
        break;
      case "read":
      case "delivered": {
        const m = this.marker(f.from.role, f.from.id);
        m[f.type] = Math.max(m[f.type], f.up_to);
        break;
      }
      case "session.ended":
        this.state = "Ended";
        this.ended = true;
        this.waitingSince = 0;
        this.note(f, f.reason === "idle" ? "Chat closed: the customer did not answer"
          : f.from.role === "customer" ? "The customer ended the chat" : `Chat ended by ${f.from.name || "the system"}`);
        break;
      case "session.idle":
        this.note(f, `The customer has not answered: the chat closes in ${Math.max(1, Math.round(f.closes_in_s / 60))} min unless they reply`);
        break;
      case "call.ringing":
        this.callMedia[f.call_id] = f.media;
        break;
      case "call.started":
      case "call.ended":
        this.note(f, callNote(f, this.callMedia[f.call_id]), "call-note");
        break;
      case "session.rated":
        this.rating = f.rating;
        this.note(f, `Rated ${f.rating.score} of 5` + (f.rating.comment ? `: “${f.rating.comment}”` : ""));
        break;
    }
  }

  note(f, text, type = "") {
    this.items.push({ kind: "note", seq: f.seq, text, at: f.at, type });
  }

  get customerName() {
    return this.info?.customer_name || "Customer";
  }
}

// ChatPane shows one session: its conversation, the customer's typing, a
// composer, and (through callbacks) its actions. It keeps the messages
// being sent (no seq yet) at the end until their event arrives.
export class ChatPane {
  constructor(container, { me, conn, api, actions = [] }) {
    this.container = container;
    this.me = me; // the principal
    this.conn = conn;
    this.api = api;
    this.actions = actions; // [{label, run(session), when(session): shown, enabled(session)}]
    this.session = null;
    this.pending = new Map(); // client_msg_id -> {text, failed}
    this.older = []; // items loaded through the history API, before the first event
    this.build();
  }

  build() {
    this.title = h("h2", { class: "pane-title" });
    this.subtitle = h("p", { class: "pane-sub" });
    this.actionBar = h("div", { class: "pane-actions" });
    this.earlier = h("button", { type: "button", class: "link", hidden: true, onclick: () => this.loadEarlier() }, "Load earlier messages");
    this.log = h("ol", { class: "log", role: "log", "aria-label": "Conversation", "aria-live": "polite" });
    this.typingLine = h("div", { class: "typing", "data-testid": "typing", "aria-live": "polite", hidden: true });
    this.input = h("textarea", {
      "aria-label": "Message", rows: "2", maxlength: "4000", placeholder: "Write a reply… (Enter sends, Shift+Enter for a new line)",
      onkeydown: (e) => {
        if (this.canned?.key(e)) return; // the canned-reply picker's keys
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.sendInput();
        }
      },
      oninput: () => {
        this.typed();
        this.slashCanned();
      },
    });
    this.canned = this.api ? new CannedPicker({ api: this.api, onPick: (r) => this.insertCanned(r) }) : null;
    this.noteBox = h("input", { type: "checkbox", "data-testid": "note-toggle",
      onchange: () => this.composer.classList.toggle("private", this.noteBox.checked) });
    this.fileInput = h("input", { type: "file", accept: ACCEPT, hidden: true, "data-testid": "file-input", onchange: () => this.sendFile() });
    this.composer = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); this.sendInput(); } },
      h("div", { class: "composer-tools" },
        h("button", { type: "button", class: "secondary attach", "aria-label": "Attach a file", title: "Attach a file (image, PDF, text)", onclick: () => this.fileInput.click() }, "Attach"),
        this.canned ? h("button", { type: "button", class: "secondary", title: "Insert a canned reply (or type / and its shortcut)",
          onclick: () => (this.canned.searching ? this.canned.close() : this.canned.open("", { withSearch: true })) }, "Canned") : null),
      this.fileInput, this.input, h("div", { class: "composer-side" },
        h("label", { class: "note-toggle", title: "Only staff see a private note; the customer never does" }, this.noteBox, " Private note"),
        h("button", { type: "submit", class: "primary" }, "Send")));
    this.empty = h("p", { class: "empty" }, "Select a conversation.");
    this.body = h("div", { class: "pane-body", hidden: true },
      h("div", { class: "pane-head" }, h("div", {}, this.title, this.subtitle), this.actionBar),
      this.earlier, this.log, this.typingLine, this.canned ? this.canned.el : null, this.composer);
    this.container.replaceChildren(this.empty, this.body);
  }

  show(session) {
    // Another session clears the composer; the same one rebuilt (after a
    // resync) keeps what the agent was writing.
    if (this.session?.id !== session?.id) {
      this.conn.stopTyping();
      this.input.value = "";
    }
    if (this.session !== session) {
      this.session = session;
      this.older = [];
    }
    this.render();
  }

  canWrite() {
    const s = this.session;
    if (!s || s.ended) return false;
    if (this.me.agent_role === "supervisor" || this.me.agent_role === "admin") return true;
    return s.state === "Agent" && s.agentID === this.me.id;
  }

  render() {
    const s = this.session;
    this.empty.hidden = !!s;
    this.body.hidden = !s;
    if (!s) return;
    this.title.textContent = s.customerName + (s.info?.title && s.info.title !== "Chat" ? " · " + s.info.title : "");
    this.subtitle.textContent = s.ended ? "Ended" : s.state === "Agent" ? `With ${s.agentName}` : s.state;
    this.actionBar.replaceChildren(...this.actions.filter((a) => !a.when || a.when(s)).map((a) =>
      h("button", { type: "button", class: a.primary ? "primary" : "secondary", disabled: !!a.enabled && !a.enabled(s), onclick: () => a.run(s) }, a.label)));
    this.composer.hidden = !this.canWrite();
    this.earlier.hidden = !this.api || !(this.older.length ? this.olderMore : s.firstSeq > 1);
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const cm = s.customerMarker;
    const lis = [];
    for (const it of [...this.older, ...s.items]) lis.push(this.item(it, cm));
    for (const [cmid, p] of this.pending) {
      if (p.session !== s.id) continue;
      lis.push(this.bubble({ from: { role: "agent", id: this.me.id, name: this.me.name }, text: p.text, cmid, private: p.note }, p.failed ? "failed" : "pending"));
    }
    this.log.replaceChildren(...lis);
    if (atBottom || this.stick) this.log.scrollTop = this.log.scrollHeight;
    this.stick = false;
    const t = s.typing;
    this.typingLine.hidden = !(t && t.until > Date.now());
    this.typingLine.textContent = this.typingLine.hidden ? "" : `${t.name} is typing…`;
  }

  item(it, cm) {
    if (it.kind === "note") return h("li", { class: "note" + (it.type ? " " + it.type : ""), "data-testid": "note", "data-seq": it.seq, "data-type": it.type || null }, it.text);
    const state = it.from.role === "customer" ? null : tickState(it.seq, cm.read, cm.delivered);
    return this.bubble(it, state);
  }

  bubble(it, state) {
    const role = it.from.role === "customer" ? "customer" : "agent";
    const mine = it.from.id === this.me.id;
    const li = h("li", { class: `msg ${role}${mine ? " mine" : ""}${it.private ? " private" : ""}${state === "pending" ? " pending" : ""}${state === "failed" ? " failed" : ""}`,
      "data-testid": it.private ? "private-note" : "msg", "data-role": role, "data-seq": it.seq, "data-cmid": it.cmid, title: it.at ? new Date(it.at).toLocaleString() : null },
      h("span", { class: "who" }, it.private ? "Private note · " : "", it.from.name || role, it.at ? h("time", {}, " · " + time(it.at)) : null),
      it.file && this.api ? fileView({ base: this.api.base, tenant: this.api.tenant, token: this.api.token }, this.session.id, it.file)
        : h("span", { class: "text" }, it.text));
    if (state && role === "agent") {
      li.append(h("span", { class: "tick", "data-testid": "tick", "data-state": state, title: TICK_LABEL[state],
        "aria-label": TICK_LABEL[state] }, TICKS[state]));
    }
    return li;
  }

  async loadEarlier() {
    const s = this.session;
    const first = this.older[0]?.seq ?? s.firstSeq;
    try {
      const res = await this.api.get(`/api/v1/sessions/${s.id}/messages?before=${first}&limit=50`);
      if (this.session !== s) return;
      const got = [];
      for (const f of res.events) {
        if (f.type === "message.created" || f.type === "note.created") {
          got.push({ kind: "msg", private: f.type === "note.created", seq: f.seq, from: f.from, text: f.message.text, file: f.message.file, cmid: f.message.client_msg_id, at: f.at });
        }
        else if (f.type === "member.joined" && f.from.role === "agent") got.push({ kind: "note", seq: f.seq, text: `${f.from.name} joined`, at: f.at });
      }
      this.older = [...got, ...this.older];
      this.olderMore = res.has_more;
      this.render();
    } catch (err) {
      toast(err.message);
    }
  }

  typed() {
    if (this.session && this.canWrite()) this.conn.typed(this.session.id);
  }

  sendInput() {
    const s = this.session;
    const text = this.input.value.trim();
    if (!s || !text || !this.canWrite()) return;
    this.input.value = "";
    this.conn.stopTyping();
    const note = this.noteBox.checked;
    const { client_msg_id, done } = this.conn.send(s.id, text, { note });
    this.pending.set(client_msg_id, { text, session: s.id, note });
    this.stick = true;
    this.render();
    done.then(
      () => {
        this.pending.delete(client_msg_id);
        if (this.session === s) this.render();
      },
      (err) => {
        this.pending.set(client_msg_id, { text, session: s.id, note, failed: true });
        toast("Not sent: " + err.message);
        this.render();
      });
  }

  // slashCanned opens the canned-reply picker while the composer holds
  // "/shortcut" alone, filtered by it, and closes it otherwise.
  slashCanned() {
    if (!this.canned) return;
    const m = /^\/([a-z0-9_-]*)$/i.exec(this.input.value);
    if (m) this.canned.open(m[1]);
    else if (this.canned.isOpen && !this.canned.searching) this.canned.close();
  }

  // insertCanned puts a canned reply in the composer (replacing a typed
  // "/shortcut"), with its placeholders filled in.
  insertCanned(r) {
    const s = this.session;
    const text = fill(r.text, { customer: s?.customerName || "", agent: this.me.name || "" });
    this.input.value = /^\/[a-z0-9_-]*$/i.test(this.input.value) || !this.input.value ? text : this.input.value + " " + text;
    this.input.focus();
  }

  // sendFile uploads the chosen file into the open session (it arrives as
  // the chat.file event).
  async sendFile() {
    const file = this.fileInput.files[0];
    this.fileInput.value = "";
    const s = this.session;
    if (!file || !s || !this.canWrite() || !this.api) return;
    try {
      await uploadFile({ base: this.api.base, tenant: this.api.tenant, token: this.api.token }, s.id, file);
    } catch (err) {
      toast(`${file.name}: ${err.message}`);
    }
  }

  // seen drops a pending message once its event is in the session.
  seen(cmid) {
    this.pending.delete(cmid);
  }
}

// toast shows a short message at the bottom of the page.
export function toast(text) {
  let box = document.querySelector(".toasts");
  if (!box) {
    box = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const t = h("div", { class: "toast", "data-testid": "toast" }, text);
  box.append(t);
  setTimeout(() => t.remove(), 8000);
}

// signIn shows the sign-in form in root (or uses the stored token) and
// resolves with {token, agent}. The token is kept in localStorage so that
// every tab of the same browser works as the same agent; one per tenant,
// so that the pages of two tenants on one hub sign in on their own.
const TOKEN_KEY = "switchboard.agent" + (tenant ? ":" + tenant : "");
export function storedLogin() {
  try {
    const v = JSON.parse(localStorage.getItem(TOKEN_KEY));
    if (v && Date.parse(v.expires_at) > Date.now() + 60000) return v;
  } catch {
    /* nothing stored */
  }
  return null;
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  location.reload();
}

export function signIn(root, heading) {
  const stored = storedLogin();
  if (stored) return Promise.resolve(stored);
  return new Promise((resolve) => {
    const email = h("input", { type: "email", autocomplete: "username", required: true });
    const password = h("input", { type: "password", autocomplete: "current-password", required: true });
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const button = h("button", { type: "submit", class: "primary" }, "Sign in");
    const form = h("form", { class: "signin", onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      error.hidden = true;
      try {
        const res = await request(base, "POST", "/api/v1/auth/login", { body: { email: email.value, password: password.value }, tenant });
        localStorage.setItem(TOKEN_KEY, JSON.stringify(res));
        if (globalThis.Notification && Notification.permission === "default") Notification.requestPermission().catch(() => {});
        unlockSound();
        resolve(res);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        button.disabled = false;
      }
    } },
      h("h1", {}, heading),
      h("label", {}, "Email", email),
      h("label", {}, "Password", password),
      error, button);
    root.replaceChildren(form);
    email.focus();
  });
}

// connect opens the page's Connection and REST client for a login;
// observe makes a supervisor's socket one that is never offered sessions.
export function connect(login, { observe = false } = {}) {
  // The connection is returned unopened: the page calls conn.open() once
  // it listens.
  const conn = new Connection({ url: wsURL(base, tenant), token: login.token, observe, device: deviceID("d") });
  const api = new Client(base, login.token, tenant);
  conn.addEventListener("status", (e) => {
    const el = document.querySelector("[data-testid=conn]");
    if (el) {
      const online = e.detail.state === "online";
      el.dataset.state = online ? "online" : "offline";
      el.textContent = online ? "Connected" : e.detail.state === "closed" ? "Signed out" : "Reconnecting…";
    }
    if (e.detail.state === "closed" && (e.detail.code === 4500 || e.detail.code === 4502)) signOut();
  });
  return { conn, api };
}

// Sound: a short two-tone chime made with WebAudio (no file to fetch).
let audio = null;
export function unlockSound() {
  try {
    audio ??= new AudioContext();
    audio.resume();
  } catch {
    audio = null;
  }
}
export function chime() {
  if (!audio) return;
  const now = audio.currentTime;
  for (const [i, f] of [880, 1320].entries()) {
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, now + i * 0.14);
    g.gain.exponentialRampToValueAtTime(0.2, now + i * 0.14 + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.14 + 0.3);
    o.connect(g).connect(audio.destination);
    o.start(now + i * 0.14);
    o.stop(now + i * 0.14 + 0.32);
  }
}

// alertHidden plays the chime and shows a browser notification, but only
// while the tab is hidden: a visible desktop shows the change itself.
export function alertHidden(title, body) {
  if (!document.hidden) return;
  chime();
  if (globalThis.Notification && Notification.permission === "granted") {
    try {
      const n = new Notification(title, { body, tag: "switchboard" });
      n.onclick = () => {
        focus();
        n.close();
      };
    } catch {
      /* not allowed here */
    }
  }
}
