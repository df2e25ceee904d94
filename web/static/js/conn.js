// conn.js: one Switchboard WebSocket, kept alive across network drops, as
// docs/protocol.md#reconnecting describes. Every page (the widget, the agent
// desktop, the supervisor view) talks to the hub through a Connection.
//
// What it guarantees to the page:
// - each durable event of a followed session is delivered once, in seq
//   order ("event"), across reconnects: the resume map carries the last
//   seq applied per session, with the epoch of that event, and anything at
//   or below it is dropped; when the hub cannot vouch that seq (a Redis
//   that rolled back reuses seqs) it says "resync" instead of replaying;
// - a message sent with send() is created exactly once: it stays pending,
//   with its client_msg_id, until the hub replies, and is sent again after
//   each reconnect, and after a reply saying the hub could not reach its
//   store (the hub answers a repeat with the first result);
// - a socket that went quiet is checked with a ping command and replaced
//   when the reply does not come; the browser's offline/online events
//   drop and restore it at once.
//
// Events (a CustomEvent each, with detail): "hello" (the hello frame),
// "event" (a durable event), "notice" (a frame without seq: typing,
// queue.position, agent.status, queue.stats, session.changed, a rating for
// the agent), "resync" (the hub could not replay a session), "pending"
// (the pending sends changed), "status" ({state: connecting | online |
// offline | closed, code, reason}).
//
// A Connection names its device (one page load: deviceID()) in every auth
// frame, the same across its reconnects: a call's leg is bound to the
// device that placed or answered it (docs/protocol.md#calls). hello's
// ice_servers are kept in iceServers.

import { tenantURL } from "./api.js";

export const SUBPROTOCOL = "switchboard.v1";

const PING_IDLE_MS = 15000; // ping after this long without a frame
const PING_WAIT_MS = 8000; // give up on the socket when the reply takes longer
const GOOD_CONNECTION_MS = 60000; // a connection this long resets the backoff

// wsURL turns the hub's http(s) base URL into its WebSocket URL. A tenant
// goes on the URL (?tenant=acme): the socket's tenant is chosen at the
// upgrade, before the auth frame, so its token cannot choose it.
export function wsURL(base, tenant = "") {
  const u = tenantURL("/ws", base, tenant);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

// newID returns a random id for a client_msg_id (letters, digits and -).
export function newID() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// deviceID returns a new device name for this page load: letters and
// digits (the hub takes 1 to 64 of letters, digits, _ and -), prefixed.
export function deviceID(prefix = "d") {
  return (prefix + "_" + newID().replace(/-/g, "")).slice(0, 64);
}

export class Connection extends EventTarget {
  // options: url (ws://…/ws), token, resume ({session_id: seq} to start
  // from) and epochs ({session_id: the epoch of the event at that seq}),
  // pending (sends kept from an earlier page, e.g. a reload while
  // offline), observe (a supervisor watching: the socket does not make the
  // agent present, so it is offered nothing), device (the page's device;
  // made up when not given, and kept for every reconnect).
  constructor({ url, token, resume = {}, epochs = {}, pending = [], observe = false, device = "" }) {
    super();
    this.url = url;
    this.token = token;
    this.observe = observe;
    this.device = device || deviceID();
    this.iceServers = []; // hello's, for calls
    this.last = { ...resume }; // session id -> last seq applied
    this.epochs = { ...epochs }; // session id -> the epoch of the event at last
    this.pending = new Map(); // client_msg_id -> send command not yet acknowledged
    this.waiting = new Map(); // command id -> {resolve, reject, cmd}
    pending.forEach((c, i) => {
      // Sends kept from an earlier page: same client_msg_id, a fresh
      // command id; their outcome shows as their message.created event.
      const cmd = { ...c, id: "r" + i };
      this.pending.set(cmd.client_msg_id, cmd);
      this.waiting.set(cmd.id, { resolve() {}, reject() {}, cmd });
    });
    this.state = "connecting";
    this.principal = null;
    this.ws = null;
    this.attempt = 0;
    this.upSince = 0;
    this.lastFrame = 0;
    this.seq = 0;
    this.stopped = false;
    this.opened = false; // open() starts it
    this.timer = null;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.drop("the browser went offline");
    addEventListener("online", this.onOnline);
    addEventListener("offline", this.onOffline);
    this.liveness = setInterval(() => this.checkLive(), 2000);
  }

  // open starts connecting. Callers open once their listeners are in
  // place: a frame that arrives before (an agent's status, an offer) would
  // otherwise be dispatched to no one and never come again.
  open() {
    if (this.opened) return;
    this.opened = true;
    this.connect();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit("status", { state, ...extra });
  }

  connect() {
    if (this.stopped || !this.opened) return;
    clearTimeout(this.timer);
    this.timer = null;
    if (globalThis.navigator && navigator.onLine === false) {
      this.setState("offline", { reason: "the browser is offline" });
      return; // the online event reconnects
    }
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch (err) {
      this.setState("offline", { reason: String(err) });
      this.retry();
      return;
    }
    this.ws = ws;
    this.lastFrame = Date.now();
    ws.onopen = () => {
      this.lastFrame = Date.now();
      const auth = { type: "auth", id: "auth", token: this.token, device: this.device, resume: this.last, epochs: this.knownEpochs() };
      if (this.observe) auth.observe = true;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      this.lastFrame = Date.now();
      let f;
      try {
        f = JSON.parse(m.data);
      } catch {
        return;
      }
      this.frame(f);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.closed(e.code, e.reason);
    };
  }

  frame(f) {
    switch (f.type) {
      case "hello":
        this.principal = f.principal;
        if (f.device) this.device = f.device; // the one auth named: kept for the reconnects
        this.iceServers = f.ice_servers || [];
        this.upSince = Date.now();
        for (const sid of f.sessions) if (!(sid in this.last)) this.last[sid] = 0;
        this.setState("online");
        this.emit("hello", f);
        for (const cmd of this.pending.values()) this.raw(cmd);
        return;
      case "reply":
      case "error": {
        const w = this.waiting.get(f.id);
        if (!w) return;
        const code = f.error?.code;
        if (f.type === "reply" && !f.ok && (code === "limit" || (code === "unavailable" && w.cmd.type === "send"))) {
          // Not run (rate limited), or the hub could not reach its store:
          // the same command again in a second (a send keeps its
          // client_msg_id, so it is created once).
          setTimeout(() => this.ws?.readyState === 1 && this.raw(w.cmd), 1000);
          return;
        }
        this.waiting.delete(f.id);
        if (w.cmd.type === "send") {
          this.pending.delete(w.cmd.client_msg_id);
          this.emit("pending", [...this.pending.values()]);
        }
        if (f.ok) w.resolve(f);
        else w.reject(Object.assign(new Error(f.error?.message || "failed"), { code: f.error?.code }));
        return;
      }
      case "resync":
        this.last[f.session_id] = f.last_seq;
        if (f.epoch) this.epochs[f.session_id] = f.epoch;
        else delete this.epochs[f.session_id];
        this.emit("resync", f);
        return;
    }
    if (typeof f.seq !== "number") {
      this.emit("notice", f);
      return;
    }
    const last = this.last[f.session_id] ?? 0;
    if (f.seq <= last) return; // a replay or an overlap: seen already
    if (f.seq > last + 1) {
      this.drop("a gap in the events"); // cannot happen; resume fills it
      return;
    }
    this.last[f.session_id] = f.seq;
    if (f.epoch) this.epochs[f.session_id] = f.epoch;
    this.emit("event", f);
  }

  // knownEpochs returns the epochs of the sessions in the resume map.
  knownEpochs() {
    const out = {};
    for (const sid of Object.keys(this.last)) if (this.epochs[sid]) out[sid] = this.epochs[sid];
    return out;
  }

  // replay asks for a session's events again from its first: after a
  // resync, the page drops what it shows of it and rebuilds it.
  replay(sessionID) {
    this.last[sessionID] = 0;
    delete this.epochs[sessionID];
    return this.command({ type: "resume", resume: { [sessionID]: 0 } });
  }

  closed(code, reason) {
    this.ws = null;
    for (const [id, w] of this.waiting) {
      if (w.cmd.type !== "send") {
        this.waiting.delete(id);
        w.reject(Object.assign(new Error("disconnected"), { code: "disconnected" }));
      }
    }
    if (code >= 4500 && code <= 4999) {
      this.stop();
      this.setState("closed", { code, reason });
      return;
    }
    this.setState("offline", { code, reason });
    this.retry(code === 4000 ? 2000 : 0);
  }

  retry(cap = 0) {
    if (this.stopped || this.timer) return;
    if (this.upSince && Date.now() - this.upSince > GOOD_CONNECTION_MS) this.attempt = 0;
    this.upSince = 0;
    this.attempt++;
    const max = cap || Math.min(30000, 500 * 2 ** this.attempt);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, Math.random() * max);
  }

  // drop abandons the current socket (without waiting for a closing
  // handshake a dead network would never finish) and reconnects.
  drop(reason) {
    const ws = this.ws;
    if (!ws) {
      if (reason === "the browser went offline") this.setState("offline", { reason });
      return;
    }
    this.ws = null;
    try {
      ws.close(4000, "client reconnects");
    } catch {
      /* already closed */
    }
    this.closed(1006, reason);
  }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.ws) this.connect();
  }

  checkLive() {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.state !== "online") return;
    const idle = Date.now() - this.lastFrame;
    if (idle > PING_IDLE_MS + PING_WAIT_MS) {
      this.drop("no answer to ping");
    } else if (idle > PING_IDLE_MS && !this.pinging) {
      this.pinging = true;
      this.command({ type: "ping" })
        .catch(() => {})
        .finally(() => (this.pinging = false));
    }
  }

  raw(cmd) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(cmd));
  }

  // command sends one command and resolves with its reply (rejects with an
  // Error carrying .code). Commands other than send are not retried: they
  // fail with code "disconnected" when the socket is down.
  command(cmd) {
    const id = "c" + ++this.seq;
    cmd = { ...cmd, id };
    return new Promise((resolve, reject) => {
      if (cmd.type !== "send" && (!this.ws || this.ws.readyState !== 1 || this.state !== "online")) {
        reject(Object.assign(new Error("disconnected"), { code: "disconnected" }));
        return;
      }
      this.waiting.set(id, { resolve, reject, cmd });
      if (this.state === "online") this.raw(cmd);
    });
  }

  // send posts a chat message (with opts.note, a private note: staff
  // only); it returns {client_msg_id, done}, where done resolves with the
  // reply once the hub stored the message, however many reconnects that
  // takes.
  send(sessionID, text, opts = {}) {
    const client_msg_id = newID();
    const cmd = { type: "send", session_id: sessionID, client_msg_id, text };
    if (opts.note) cmd.note = true;
    const id = "c" + ++this.seq;
    const full = { ...cmd, id };
    this.pending.set(client_msg_id, full);
    this.emit("pending", [...this.pending.values()]);
    const done = new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, cmd: full });
    });
    if (this.state === "online") this.raw(full);
    return { client_msg_id, done };
  }

  typing(sessionID, on) {
    return this.command({ type: "typing", session_id: sessionID, on }).catch(() => {});
  }

  // typed reports a keystroke in sessionID's composer with the cadence
  // the protocol asks for: typing on at the first, again every 3 s while
  // the keys go on (the hub ends an indicator after 6 s), off 2.5 s after
  // the last one, and off at once with stopTyping (sending, switching).
  typed(sessionID) {
    const now = Date.now();
    if (this.typingIn !== sessionID || now - this.typingSent > 3000) {
      if (this.typingIn && this.typingIn !== sessionID) this.typing(this.typingIn, false);
      this.typingIn = sessionID;
      this.typingSent = now;
      this.typing(sessionID, true);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), 2500);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingIn) {
      this.typing(this.typingIn, false);
      this.typingIn = null;
    }
  }

  read(sessionID, seq) {
    return this.command({ type: "read", session_id: sessionID, seq }).catch(() => {});
  }

  delivered(sessionID, seq) {
    return this.command({ type: "delivered", session_id: sessionID, seq }).catch(() => {});
  }

  // follow starts following more sessions (a supervisor's silent join),
  // replaying each from seq (0: everything).
  follow(sessions) {
    for (const [sid, seq] of Object.entries(sessions)) {
      if (!(sid in this.last)) this.last[sid] = seq;
    }
    return this.command({ type: "resume", resume: sessions });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.liveness);
    removeEventListener("online", this.onOnline);
    removeEventListener("offline", this.onOffline);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }
}
