// widget.js: the Switchboard customer widget. One tag on any site adds a
// launcher and a chat window:
//
//   <script src="https://hub.example.com/widget.js" data-title="Acme support"
//           data-color="#0a7d5a" data-position="right" async></script>
//
// It is a Web Component (<switchboard-widget>) whose shadow DOM keeps the
// host page's CSS out and its own in. It talks only to the hub the script
// came from: REST to open a conversation, then one WebSocket (js/conn.js)
// that resumes after every drop, so nothing is lost or shown twice. The
// customer token and unsent messages are kept in localStorage, so a reload
// continues the conversation. Text is always rendered as text.
//
// A hub that serves many contact centers (tenants) needs to know whose
// widget this is when its host does not say (acme.chat.example.com does):
//
//   <script src="https://hub.example.com/widget.js" data-tenant="acme" async></script>
//
// With data-tenant every call to the hub (opening the conversation, the
// WebSocket, the other REST calls) carries tenant=acme in its query, and the
// saved conversation is kept per tenant. Without it the hub finds the
// tenant by its host, else serves its default tenant.
//
// Calls: once an agent holds the conversation, the header's "Audio call"
// and "Video call" buttons call the agent, and an agent's call rings here
// (the window opens) with Accept and Decline (js/call.js does the WebRTC).
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || customElements.get("switchboard-widget")) return;
  const base = new URL(script.src, location.href).origin;
  const config = {
    title: script.dataset.title || "Chat with us",
    color: script.dataset.color || "",
    position: script.dataset.position === "left" ? "left" : "right",
    greeting: script.dataset.greeting || "Questions? We are here to help.",
    tenant: script.dataset.tenant || "",
    // offlineForm "never" keeps the chat form when nobody can answer (the
    // customer queues until an agent signs in); "auto", the default,
    // offers the offline form then (docs/web.md).
    offlineForm: script.dataset.offlineForm === "never" ? "never" : "auto",
  };
  const tenant = config.tenant;
  const storeKey = "switchboard:" + base + (tenant ? "?tenant=" + tenant : "");

  const load = () => {
    try {
      return JSON.parse(localStorage.getItem(storeKey)) || {};
    } catch {
      return {};
    }
  };
  const save = (v) => {
    try {
      localStorage.setItem(storeKey, JSON.stringify(v));
    } catch {
      /* private mode: the conversation lasts as long as the page */
    }
  };

  const ICON_CHAT =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  const ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  const ICON_PHONE =
    "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z";
  const ICON_VIDEO = "M3 6h12a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1zm14 4.5 5-3v9l-5-3z";
  function icon(d, stroke) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", d);
    if (stroke) p.setAttribute("class", "stroke");
    svg.append(p);
    return svg;
  }

  // The modules come from the same hub: the connection, the REST client and
  // the DOM helpers the hub's own pages use. The element is defined once
  // they are loaded.
  let conn, api, calling, attach, h, TICKS, TICK_LABEL, tickState;

  class SwitchboardWidget extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: "open" });
      if (config.color) this.style.setProperty("--sb-accent", config.color);
      this.classList.add("sb-" + config.position);
      root.append(h("link", { rel: "stylesheet", href: base + "/widget.css" }));
      this.build(root);
      this.saved = load();
      this.msgs = new Map(); // client_msg_id -> li, for the customer's own messages
      this.agentRead = 0;
      this.agentDelivered = 0;
      this.lastAgentSeq = 0;
      this.ended = false;
      this.state = ""; // the session's state, from its events
      this.callMedia = {}; // call id -> audio or video
      if (this.saved.token) {
        this.showChat();
        this.start();
        if (this.saved.open) this.toggle(true, false);
      }
    }

    build(root) {
      this.launcher = h("button", {
        class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false",
        "aria-controls": "sb-panel", onclick: () => this.toggle(),
      }, icon(ICON_CHAT));
      this.agentLine = h("p", { class: "agent", "data-testid": "sb-agent" });
      this.audioButton = h("button", { type: "button", class: "head-button", "aria-label": "Audio call", title: "Audio call",
        disabled: true, hidden: true, onclick: () => this.call("audio") }, icon(ICON_PHONE));
      this.videoButton = h("button", { type: "button", class: "head-button", "aria-label": "Video call", title: "Video call",
        disabled: true, hidden: true, onclick: () => this.call("video") }, icon(ICON_VIDEO));
      this.callSlot = h("div", { class: "call-slot" });
      this.offline = h("div", { class: "banner offline", role: "status", "data-testid": "sb-offline", hidden: true },
        "Connection lost. Reconnecting…");
      this.error = h("div", { class: "banner error", role: "alert", "data-testid": "sb-error", hidden: true });

      const field = (label, input) => h("label", {}, h("span", {}, label), input);
      this.nameInput = h("input", { name: "name", autocomplete: "name", required: true, maxlength: "100" });
      this.emailInput = h("input", { name: "email", type: "email", autocomplete: "email", maxlength: "254" });
      this.questionInput = h("textarea", { name: "question", rows: "3", maxlength: "4000" });
      this.startButton = h("button", { type: "submit", class: "primary" }, "Start chat");
      this.greeting = h("p", { class: "greeting", "data-testid": "sb-greeting" }, config.greeting);
      this.emailLabel = h("span", {}, "Email (optional)");
      this.questionLabel = h("span", {}, "How can we help?");
      this.prechat = h("form", { class: "prechat", onsubmit: (e) => this.begin(e) },
        this.greeting,
        field("Name", this.nameInput),
        h("label", {}, this.emailLabel, this.emailInput),
        h("label", {}, this.questionLabel, this.questionInput),
        this.startButton);
      this.away = false; // nobody can answer now: the form leaves a message (offline form)

      this.queue = h("div", { class: "queue", role: "status", "data-testid": "sb-queue", hidden: true });
      this.log = h("ol", { class: "log", role: "log", "aria-label": "Conversation", "aria-live": "polite" });
      this.typingLine = h("div", { class: "typing", "data-testid": "sb-typing", "aria-live": "polite", hidden: true });
      this.input = h("textarea", {
        "aria-label": "Message", rows: "1", maxlength: "4000", placeholder: "Write a message…",
        onkeydown: (e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this.sendInput();
          }
        },
        oninput: () => this.typed(),
      });
      this.sendButton = h("button", { type: "submit", class: "primary" }, "Send");
      this.fileInput = h("input", { type: "file", accept: attach.ACCEPT, hidden: true, "data-testid": "sb-file-input",
        onchange: () => this.sendFile() });
      this.attachButton = h("button", { type: "button", class: "attach", "aria-label": "Attach a file", title: "Attach a file",
        onclick: () => this.fileInput.click() }, "+");
      this.composer = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); this.sendInput(); } },
        this.attachButton, this.fileInput, this.input, this.sendButton);
      this.endButton = h("button", { type: "button", class: "link", onclick: () => this.end() }, "End chat");

      this.stars = [1, 2, 3, 4, 5].map((n) =>
        h("button", {
          type: "button", class: "star", "aria-label": n === 1 ? "1 star" : n + " stars", "aria-pressed": "false",
          onclick: () => this.pick(n),
        }, "★"));
      this.comment = h("textarea", { "aria-label": "Comment", rows: "2", maxlength: "1000", placeholder: "Anything to add? (optional)" });
      this.rateButton = h("button", { type: "button", class: "primary", onclick: () => this.rate(), disabled: true }, "Send rating");
      this.rating = h("div", { class: "rating", role: "group", "aria-label": "Rate this conversation", hidden: true },
        h("p", {}, "How did we do?"), h("div", { class: "stars" }, ...this.stars), this.comment, this.rateButton);
      this.rated = h("p", { class: "rated", "data-testid": "sb-rated", hidden: true }, "Thanks for your feedback");
      this.newButton = h("button", { type: "button", class: "link", hidden: true, onclick: () => this.reset() }, "Start a new chat");
      this.chat = h("div", { class: "chat", hidden: true },
        this.queue, this.callSlot, this.log, this.typingLine, this.rating, this.rated, this.composer,
        h("div", { class: "actions" }, this.endButton, this.newButton));

      this.panel = h("section", { id: "sb-panel", class: "panel", role: "dialog", "aria-label": config.title, hidden: true,
        onkeydown: (e) => { if (e.key === "Escape") this.toggle(false); } },
        h("header", {},
          h("div", { class: "title" }, h("h2", {}, config.title), this.agentLine),
          this.audioButton, this.videoButton,
          h("button", { type: "button", class: "minimize", "aria-label": "Minimize chat", onclick: () => this.toggle(false) },
            icon(ICON_CLOSE, true))),
        this.offline, this.error, this.prechat, this.chat);
      root.append(this.panel, this.launcher);
    }

    toggle(open = this.panel.hidden, focus = true) {
      this.panel.hidden = !open;
      this.launcher.setAttribute("aria-expanded", String(open));
      this.launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
      if (this.saved) {
        this.saved.open = open;
        if (this.saved.token) save(this.saved);
      }
      if (open) {
        if (!this.prechat.hidden) this.checkAvailability();
        if (focus) (this.chat.hidden ? this.nameInput : this.input).focus();
        this.markRead();
      } else if (focus) {
        this.launcher.focus();
      }
    }

    showError(text) {
      this.error.textContent = text;
      this.error.hidden = !text;
    }

    showChat() {
      this.prechat.hidden = true;
      this.chat.hidden = false;
      this.audioButton.hidden = this.videoButton.hidden = false;
    }

    // call places a call to the agent; the buttons are enabled while an
    // agent holds the conversation and no call is on.
    call(media) {
      if (this.calls && this.canCall()) this.calls.invite(this.sid, media);
    }

    canCall() {
      return this.state === "Agent" && !this.ended && !!this.calls?.canInvite(this.sid);
    }

    refreshCallButtons() {
      this.audioButton.disabled = this.videoButton.disabled = !this.canCall();
    }

    // checkAvailability asks the hub whether a chat can be answered now;
    // when not (closed, or no agent Available) the form becomes the
    // offline form: an e-mail and a message, answered later.
    async checkAvailability() {
      let a = { online: true };
      if (config.offlineForm === "never") return;
      try {
        a = await api.request(base, "GET", "/api/v1/widget/availability", { tenant });
      } catch {
        // unknown: offer the chat
      }
      this.away = !a.online;
      this.prechat.classList.toggle("away", this.away);
      this.emailInput.required = this.questionInput.required = this.away;
      this.emailLabel.textContent = this.away ? "Email (we answer there)" : "Email (optional)";
      this.questionLabel.textContent = this.away ? "Your message" : "How can we help?";
      this.startButton.textContent = this.away ? "Send message" : "Start chat";
      this.greeting.textContent = !this.away ? config.greeting
        : a.reason === "closed" && a.opens_at
          ? `We are closed now and open again ${new Date(a.opens_at).toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" })}. Leave us a message and we will answer by e-mail.`
          : "Nobody can answer right now. Leave us a message and we will answer by e-mail.";
    }

    async begin(e) {
      e.preventDefault();
      const name = this.nameInput.value.trim();
      if (!name) {
        this.nameInput.focus();
        return;
      }
      const away = this.away;
      this.showError("");
      this.startButton.disabled = true;
      const question = this.questionInput.value.trim();
      const body = { name, title: question ? question.slice(0, 80) : "Chat", description: question };
      const email = this.emailInput.value.trim();
      if (email) body.email = email;
      if (away) body.offline = true;
      try {
        const res = await api.request(base, "POST", "/api/v1/widget/sessions", { body, tenant });
        this.saved = { token: res.token, session: res.session.id, open: true, pending: [] };
        save(this.saved);
        this.showChat();
        this.start();
        if (away) {
          this.note(`Thanks, ${name}. We will answer by e-mail at ${email}, or here if you are still on this page.`);
        }
        this.input.focus();
      } catch (err) {
        this.showError(err.status === 0 || err.code === "network"
          ? "The chat is not available right now. Please try again later."
          : err.message);
      } finally {
        this.startButton.disabled = false;
      }
    }

    start() {
      const sid = this.saved.session;
      this.sid = sid;
      this.conn = new conn.Connection({
        url: conn.wsURL(base, tenant), token: this.saved.token, resume: { [sid]: 0 }, pending: this.saved.pending || [],
        device: conn.deviceID("w"), // one per page load, the same across reconnects
      });
      this.calls = new calling.CallManager({ conn: this.conn, role: "customer" });
      this.callView = new calling.CallView(this.calls, { prefix: "sb-" });
      this.callView.show(sid);
      this.callSlot.replaceChildren(this.callView.el);
      this.calls.addEventListener("change", () => this.refreshCallButtons());
      this.calls.addEventListener("ring", () => {
        if (this.panel.hidden) this.toggle(true, false); // the banner is in the window
      });
      for (const cmd of this.saved.pending || []) this.renderOwnPending(cmd.client_msg_id, cmd.text);
      this.conn.addEventListener("event", (e) => this.apply(e.detail));
      this.conn.addEventListener("notice", (e) => this.notice(e.detail));
      this.conn.addEventListener("status", (e) => this.status(e.detail));
      this.conn.addEventListener("resync", (e) => this.resync(e.detail));
      this.conn.addEventListener("pending", (e) => {
        this.saved.pending = e.detail.map(({ type, session_id, client_msg_id, text }) => ({ type, session_id, client_msg_id, text }));
        save(this.saved);
      });
      document.addEventListener("visibilitychange", () => this.markRead());
      this.conn.open();
    }

    // resync: the hub could not replay the conversation from where this
    // page was (its store came back older, say). The page drops what it
    // shows and replays the conversation from its first event; messages
    // still being sent stay and are sent again.
    resync(f) {
      if (f.session_id !== this.sid) return;
      if (f.reason === "session_gone") {
        this.reset();
        this.showError("Your previous conversation has expired.");
        return;
      }
      for (const li of [...this.log.children]) if (!li.classList.contains("pending")) li.remove();
      for (const [cmid, li] of this.msgs) if (!li.classList.contains("pending")) this.msgs.delete(cmid);
      this.agentRead = this.agentDelivered = this.lastAgentSeq = this.readSent = 0;
      this.conn.replay(this.sid).catch(() => this.conn.drop("replay after a resync"));
    }

    status({ state, code }) {
      this.offline.hidden = state !== "offline" || this.ended;
      if (state === "closed") {
        if (code === 4500 && !this.ended) {
          // The token expired or the conversation is gone: start afresh.
          this.reset();
          this.showError("Your previous conversation has expired.");
        }
        this.offline.hidden = true;
      }
      this.sendButton.disabled = this.ended;
    }

    apply(f) {
      if (f.type === "session.state" || f.type === "session.created") this.state = f.state;
      if (f.type === "session.ended") this.state = "Ended";
      switch (f.type) {
        case "call.ringing":
          this.callMedia[f.call_id] = f.media;
          break;
        case "call.started":
        case "call.ended":
          this.note(calling.callNote(f, this.callMedia[f.call_id]), "call-note");
          break;
        case "session.state":
          if (f.state === "Agent") {
            this.position = "";
            this.agentLine.textContent = f.agent_name;
            this.queue.hidden = true;
          } else if (f.state === "Queuing") {
            this.agentLine.textContent = "";
            this.queue.hidden = false;
            this.queue.textContent = this.position || "Waiting for the next available agent…";
          } else if (f.state === "WaitingForAgentAnswering") {
            this.queue.hidden = false;
            this.queue.textContent = "Connecting you to an agent…";
          }
          break;
        case "session.created":
          if (f.state === "Queuing") {
            this.queue.hidden = false;
            this.queue.textContent = this.position || "Waiting for the next available agent…";
          }
          break;
        case "member.joined":
          if (f.from.role === "agent") this.note(f.from.name + " joined the chat");
          break;
        case "member.left":
          if (f.from.role === "agent") this.note((f.from.name || "The agent") + " left the chat");
          break;
        case "message.created":
          this.message(f);
          break;
        case "read":
        case "delivered":
          if (f.from.role !== "customer") {
            if (f.type === "read") this.agentRead = Math.max(this.agentRead, f.up_to);
            this.agentDelivered = Math.max(this.agentDelivered, f.up_to);
            this.refreshTicks();
          }
          break;
        case "session.ended":
          this.finish(f);
          break;
        case "session.idle": // idle auto-close: the agent waits for an answer
          this.note(`Are you still there? This chat closes in ${Math.max(1, Math.round(f.closes_in_s / 60))} min unless you reply.`);
          break;
        case "session.rated":
          this.rating.hidden = true;
          this.rated.hidden = false;
          break;
      }
      this.refreshCallButtons();
    }

    notice(f) {
      if (f.type === "queue.position" && f.session_id === this.sid) {
        if (this.ended || this.agentLine.textContent) return; // an agent is in the chat
        let text = `You are number ${f.position} in the queue`;
        if (typeof f.estimated_wait_s === "number") {
          const min = Math.max(1, Math.round(f.estimated_wait_s / 60));
          text += ` · estimated wait about ${min} min`;
        }
        // Positions are pushed when they change, and may come before the
        // replayed events: kept, they survive the replay's state changes.
        this.position = text;
        this.queue.textContent = text;
        this.queue.hidden = false;
      } else if (f.type === "typing" && f.session_id === this.sid && f.from.role !== "customer") {
        clearTimeout(this.typingTimer);
        this.typingLine.hidden = !f.on;
        this.typingLine.textContent = f.on ? `${f.from.name} is typing…` : "";
        if (f.on) this.typingTimer = setTimeout(() => (this.typingLine.hidden = true), f.expires_ms || 6000);
      } else if (f.type === "session.rated") {
        this.rating.hidden = true;
        this.rated.hidden = false;
      }
    }

    note(text, type = "") {
      this.insert(h("li", { class: "note" + (type ? " " + type : ""), "data-testid": "sb-note", "data-type": type || null }, text));
    }

    // insert adds a stored item before the first message still being sent.
    insert(li) {
      const firstPending = this.log.querySelector("li.pending");
      this.log.insertBefore(li, firstPending);
      this.log.scrollTop = this.log.scrollHeight;
    }

    bubble(role, text, cmid) {
      return h("li", { class: "msg " + role, "data-testid": "sb-msg", "data-role": role, "data-cmid": cmid },
        h("span", { class: "sb-text" }, text));
    }

    // sendFile uploads the chosen file into the session; it arrives, like
    // a message, as the chat.file event that shows it.
    async sendFile() {
      const file = this.fileInput.files[0];
      this.fileInput.value = "";
      if (!file || !this.sid) return;
      this.showError("");
      this.attachButton.disabled = true;
      try {
        await attach.uploadFile({ base, tenant, token: this.saved.token }, this.sid, file);
      } catch (err) {
        this.showError(`${file.name}: ${err.message}`);
      } finally {
        this.attachButton.disabled = false;
      }
    }

    renderOwnPending(cmid, text) {
      const li = this.bubble("customer", text, cmid);
      li.classList.add("pending");
      li.append(h("span", { class: "tick", "data-testid": "sb-tick", "data-state": "pending", title: TICK_LABEL.pending,
        "aria-label": TICK_LABEL.pending }, TICKS.pending));
      this.msgs.set(cmid, li);
      this.log.append(li);
      this.log.scrollTop = this.log.scrollHeight;
    }

    message(f) {
      const own = f.from.role === "customer";
      const cmid = f.message.client_msg_id;
      let li = own ? this.msgs.get(cmid) : null;
      if (li) {
        li.classList.remove("pending");
        li.remove();
      } else {
        li = this.bubble(own ? "customer" : "agent", f.message.text, cmid);
        if (f.message.file) {
          li.querySelector(".sb-text").replaceWith(attach.fileView({ base, tenant, token: this.saved.token }, this.sid, f.message.file, "sb-"));
        }
        if (own) {
          li.append(h("span", { class: "tick", "data-testid": "sb-tick" }));
          this.msgs.set(cmid, li);
        } else {
          li.prepend(h("span", { class: "who" }, f.from.name));
        }
      }
      li.dataset.seq = f.seq;
      li.title = new Date(f.at).toLocaleString();
      this.insert(li);
      if (own) {
        this.tick(li);
      } else {
        this.lastAgentSeq = f.seq;
        this.typingLine.hidden = true;
        this.ack();
      }
    }

    tick(li) {
      const seq = Number(li.dataset.seq);
      const state = tickState(seq, this.agentRead, this.agentDelivered);
      const t = li.querySelector(".tick");
      if (t.dataset.state === state) return;
      t.dataset.state = state;
      t.textContent = TICKS[state];
      t.title = TICK_LABEL[state];
      t.setAttribute("aria-label", TICK_LABEL[state]);
    }

    refreshTicks() {
      for (const li of this.msgs.values()) this.tick(li);
    }

    // ack tells the hub the agent's messages arrived, and were read when the
    // window is open and the page visible. Batched: one marker per burst.
    ack() {
      clearTimeout(this.ackTimer);
      this.ackTimer = setTimeout(() => {
        if (!this.conn || !this.lastAgentSeq || this.ended) return;
        if (!this.markRead()) this.conn.delivered(this.sid, this.lastAgentSeq);
      }, 150);
    }

    markRead() {
      if (!this.conn || !this.lastAgentSeq || this.ended || this.panel.hidden || document.hidden) return false;
      if (this.lastAgentSeq > (this.readSent || 0)) {
        this.readSent = this.lastAgentSeq;
        this.conn.read(this.sid, this.lastAgentSeq).then(() => {}, () => (this.readSent = 0));
      }
      return true;
    }

    typed() {
      if (this.conn && !this.ended) this.conn.typed(this.sid);
    }

    sendInput() {
      const text = this.input.value.trim();
      if (!text || !this.conn || this.ended) return;
      this.input.value = "";
      this.conn.stopTyping();
      const { client_msg_id, done } = this.conn.send(this.sid, text);
      this.renderOwnPending(client_msg_id, text);
      done.catch((err) => {
        const li = this.msgs.get(client_msg_id);
        if (li) {
          li.classList.add("failed");
          const t = li.querySelector(".tick");
          t.dataset.state = "failed";
          t.textContent = TICKS.failed;
          t.setAttribute("aria-label", TICK_LABEL.failed);
          li.title = err.message;
        }
      });
    }

    async end() {
      if (!this.conn || this.ended) return;
      this.endButton.disabled = true;
      try {
        await this.conn.command({ type: "close", session_id: this.sid });
      } catch (err) {
        if (err.code !== "conflict") {
          try {
            await api.request(base, "DELETE", "/api/v1/sessions/" + this.sid, { token: this.saved.token, tenant });
          } catch {
            this.endButton.disabled = false;
          }
        }
      }
    }

    finish(f) {
      this.ended = true;
      const who = f.from.role === "customer" ? "You" : f.from.name || "The agent";
      this.note(f.reason === "idle" ? "The chat was closed because there was no reply" : `${who} ended the chat`);
      this.queue.hidden = true;
      this.typingLine.hidden = true;
      this.composer.hidden = true;
      this.endButton.hidden = true;
      this.newButton.hidden = false;
      this.offline.hidden = true;
      if (this.rated.hidden) this.rating.hidden = false;
    }

    pick(n) {
      this.score = n;
      this.stars.forEach((b, i) => b.setAttribute("aria-pressed", String(i < n)));
      this.rateButton.disabled = false;
    }

    async rate() {
      if (!this.score) return;
      this.rateButton.disabled = true;
      try {
        const body = { score: this.score };
        const comment = this.comment.value.trim();
        if (comment) body.comment = comment;
        await api.request(base, "POST", `/api/v1/sessions/${this.sid}/rating`, { token: this.saved.token, body, tenant });
        this.rating.hidden = true;
        this.rated.hidden = false;
      } catch (err) {
        if (err.code === "conflict") {
          this.rating.hidden = true;
          this.rated.hidden = false;
        } else {
          this.showError(err.message);
          this.rateButton.disabled = false;
        }
      }
    }

    reset() {
      this.calls?.dispose();
      this.callView?.dispose();
      this.calls = this.callView = null;
      this.callSlot.replaceChildren();
      this.conn?.stop();
      this.conn = null;
      this.state = "";
      this.callMedia = {};
      this.audioButton.hidden = this.videoButton.hidden = true;
      this.refreshCallButtons();
      this.saved = {};
      try {
        localStorage.removeItem(storeKey);
      } catch {
        /* nothing stored */
      }
      this.msgs.clear();
      this.log.replaceChildren();
      this.ended = false;
      this.agentRead = this.agentDelivered = this.lastAgentSeq = this.readSent = 0;
      this.agentLine.textContent = "";
      this.queue.textContent = "";
      this.queue.hidden = true;
      this.composer.hidden = false;
      this.endButton.hidden = false;
      this.endButton.disabled = false;
      this.newButton.hidden = true;
      this.rating.hidden = true;
      this.rated.hidden = true;
      this.score = 0;
      this.stars.forEach((b) => b.setAttribute("aria-pressed", "false"));
      this.comment.value = "";
      this.chat.hidden = true;
      this.prechat.hidden = false;
      this.questionInput.value = "";
      this.showError("");
      this.checkAvailability();
      this.nameInput.focus();
    }
  }

  Promise.all([import(base + "/js/conn.js"), import(base + "/js/api.js"), import(base + "/js/dom.js"), import(base + "/js/call.js"),
    import(base + "/js/files.js")]).then(
    ([c, a, dom, calls, fileMod]) => {
      [conn, api, calling, attach] = [c, a, calls, fileMod];
      ({ h, TICKS, TICK_LABEL, tickState } = dom);
      customElements.define("switchboard-widget", SwitchboardWidget);
      const mount = () => document.body.append(document.createElement("switchboard-widget"));
      if (document.body) mount();
      else addEventListener("DOMContentLoaded", mount);
    },
    (err) => console.error("switchboard: the widget could not load its modules from " + base, err));
})();
