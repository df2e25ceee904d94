// agent.js: the agent desktop (/agent). An agent signs in, picks a status,
// takes offers, and works its sessions; every tab of the agent has its own
// socket, and read markers, statuses and sessions come from the hub, so the
// tabs agree. Calls (js/call.js): the agent calls the customer of a
// session it holds, or answers the customer's call; every tab rings, the
// first to accept takes it.

import { CallManager, CallView } from "./call.js";
import { ChatPane, SessionModel, ago, alertHidden, connect, h, signIn, signOut, toast } from "./desk.js";

const root = document.getElementById("app");
root.classList.add("fixed"); // the conversation scrolls, not the page
const login = await signIn(root, "Switchboard agent desktop");
const me = { id: login.agent.id, name: login.agent.name, agent_role: login.agent.role };
const { conn, api } = connect(login);

const sessions = new Map(); // id -> SessionModel, the sessions this socket follows
let selected = null;

// --- layout -----------------------------------------------------------------
const statusSelect = h("select", { id: "status", "aria-label": "Status", onchange: () => setStatus(statusSelect.value) });
const myStatus = h("span", { class: "badge", "data-testid": "my-status" }, "Offline");
const connState = h("span", { class: "conn", "data-testid": "conn", "data-state": "offline" }, "Connecting…");
const offers = h("div", { class: "offers", "aria-label": "Offers", role: "region" });
const list = h("ul", { class: "sessions", "aria-label": "My sessions" });
const offlineList = h("ul", { class: "sessions offline-list", "aria-label": "Offline messages" });
const paneBox = h("section", { class: "pane", "aria-label": "Chat" });
const side = h("aside", { class: "side", "aria-label": "Customer" });

root.replaceChildren(
  h("header", { class: "topbar" },
    h("strong", { class: "brand" }, "Switchboard"),
    h("span", { class: "me" }, me.name),
    h("label", { class: "status-label" }, "Status", statusSelect),
    myStatus, connState,
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out")),
  h("div", { class: "desk" },
    h("nav", { class: "left" }, h("h2", {}, "Offers"), offers, h("h2", {}, "My sessions"), list,
      h("h2", {}, "Offline messages"), offlineList),
    paneBox, side));

// A call may be placed in a session the agent holds, one at a time.
const calls = new CallManager({ conn, role: "agent" });
const holds = (s) => s.state === "Agent" && s.agentID === me.id && !s.ended;

const pane = new ChatPane(paneBox, {
  me, conn, api,
  actions: [
    { label: "Audio call", when: holds, enabled: (s) => calls.canInvite(s.id), run: (s) => calls.invite(s.id, "audio") },
    { label: "Video call", when: holds, enabled: (s) => calls.canInvite(s.id), run: (s) => calls.invite(s.id, "video") },
    { label: "Transfer", when: (s) => pane.canWrite(), run: (s) => transferDialog(s) },
    { label: "Close chat", when: (s) => pane.canWrite(), run: (s) => closeSession(s) },
  ],
});

// The call area sits above the conversation and shows this tab's call
// wherever it is, else a ringing one, else the open session's; answering
// opens the caller's conversation (the chat goes on during the call).
const callView = new CallView(calls, { onAccept: (sid) => sid !== selected && select(sid) });
paneBox.prepend(callView.el);
calls.addEventListener("change", () => {
  callView.show(calls.focus(selected));
  renderSoon();
});
calls.addEventListener("ring", (e) => {
  const s = sessions.get(e.detail.session_id);
  alertHidden(`Incoming ${e.detail.call.media === "video" ? "video" : "voice"} call`, s?.customerName || "");
});

// --- statuses -----------------------------------------------------------------
const statuses = await api.get("/api/v1/statuses");
statusSelect.replaceChildren(
  ...statuses.statuses.map((s) => h("option", { value: s }, s)),
  ...statuses.system.map((s) => h("option", { value: s, disabled: true }, s + " (automatic)")));

async function setStatus(status) {
  try {
    await conn.command({ type: "status", status });
  } catch (err) {
    toast("Status not changed: " + err.message);
  }
}

function showStatus(f) {
  myStatus.textContent = f.status;
  myStatus.dataset.status = f.status;
  if (f.chosen_status) statusSelect.value = f.chosen_status;
  else if (statuses.statuses.includes(f.status)) statusSelect.value = f.status;
}

// --- events -----------------------------------------------------------------
function model(sid) {
  let s = sessions.get(sid);
  if (!s) {
    s = new SessionModel(sid);
    sessions.set(sid, s);
    api.get("/api/v1/sessions/" + sid).then((info) => {
      s.info = info;
      renderAll();
    }, () => {});
  }
  return s;
}

// tagEditor edits the session's tags (staff's labels; the customer never
// sees them): a chip per tag with a remove button, and an input whose
// Enter adds one. Each change replaces the whole list (PUT .../tags).
function tagEditor(s) {
  const tags = s.info?.tags || [];
  const save = async (next) => {
    try {
      const info = await api.put(`/api/v1/sessions/${s.id}/tags`, { tags: next });
      s.info = { ...s.info, tags: info.tags };
      if (selected === s.id) loadCustomer(s);
    } catch (err) {
      toast("Tags not saved: " + err.message);
    }
  };
  const input = h("input", { type: "text", class: "tag-input", "aria-label": "Add a tag", placeholder: "Add a tag…", maxlength: "32",
    onkeydown: (e) => {
      if (e.key !== "Enter" || !input.value.trim()) return;
      e.preventDefault();
      save([...tags, input.value.trim()]);
    } });
  return h("div", { class: "tag-editor", "data-testid": "tag-editor" },
    h("h3", {}, "Tags"),
    h("div", { class: "tags" }, ...tags.map((t) => h("span", { class: "tag", "data-testid": "tag" }, "#" + t,
      h("button", { type: "button", class: "link", "aria-label": `Remove tag ${t}`, onclick: () => save(tags.filter((x) => x !== t)) }, "×")))),
    input);
}

let ackTimer = null;
const toAck = new Map(); // session id -> seq whose delivery to report

conn.addEventListener("event", (e) => {
  const f = e.detail;
  const s = model(f.session_id);
  const wasOffer = isOffer(s);
  s.apply(f);
  if (f.type === "message.created" || f.type === "note.created") pane.seen(f.message.client_msg_id);
  if (f.type === "session.tags" && s.info) {
    s.info = { ...s.info, tags: f.tags || [] }; // tagged elsewhere (another tab, a supervisor)
    if (selected === s.id) loadCustomer(s);
  }
  if (!wasOffer && isOffer(s) && !replaying(f)) alertHidden("New chat offered", s.customerName);
  if (f.type === "message.created" && f.from.role === "customer") {
    toAck.set(s.id, f.seq);
    clearTimeout(ackTimer);
    ackTimer = setTimeout(acknowledge, 150);
    if (!replaying(f)) alertHidden(`${f.from.name}`, f.message.text);
  }
  if (f.type === "session.ended" || (f.type === "session.state" && f.agent_id !== me.id)) {
    dropSession(s.id); // over, or with someone else: the hub stops following it
  }
  renderSoon();
});

// replaying tells events replayed on (re)connect from live ones, so that
// a reload does not chime for old messages.
function replaying(f) {
  return Date.now() - Date.parse(f.at) > 10000;
}

function acknowledge() {
  for (const [sid, seq] of toAck) {
    const s = sessions.get(sid);
    if (s && s.state === "Agent" && s.agentID === me.id && !s.ended) {
      if (!(sid === selected && !document.hidden && markRead(s))) conn.delivered(sid, seq);
    }
  }
  toAck.clear();
}

function markRead(s) {
  if (s.state !== "Agent" || s.agentID !== me.id || s.ended) return false;
  const m = s.marker("agent", me.id);
  if (s.lastCustomerSeq > m.read && s.lastCustomerSeq > (s.readSent || 0)) {
    s.readSent = s.lastCustomerSeq;
    conn.read(s.id, s.lastCustomerSeq);
  }
  return true;
}

conn.addEventListener("notice", (e) => {
  const f = e.detail;
  if (f.type === "agent.status" && f.agent_id === me.id) showStatus(f);
  else if (f.type === "typing" && f.from.id !== me.id) {
    const s = sessions.get(f.session_id);
    if (!s) return;
    s.typing = f.on ? { name: f.from.name, until: Date.now() + (f.expires_ms || 6000) } : null;
    if (f.on) setTimeout(renderSoon, (f.expires_ms || 6000) + 50);
    renderSoon();
  } else if (f.type === "session.rated") {
    toast(`A customer rated the chat ${f.rating.score} of 5` + (f.rating.comment ? `: “${f.rating.comment}”` : ""));
  }
});

conn.addEventListener("resync", (e) => {
  // The hub could not replay this session from where this tab was (its
  // store came back older, say): drop the model and rebuild it from the
  // session's first event, which is everything the store holds.
  const old = sessions.get(e.detail.session_id);
  if (!old) return;
  if (e.detail.reason === "session_gone") {
    dropSession(old.id);
    renderSoon();
    return;
  }
  const s = new SessionModel(old.id);
  s.info = old.info;
  sessions.set(s.id, s);
  if (selected === s.id) pane.show(s);
  conn.replay(s.id).catch(() => conn.drop("replay after a resync"));
  renderSoon();
});

conn.addEventListener("hello", () => {
  // Sessions assigned while this tab was away come in hello.sessions, and
  // their events follow.
  renderSoon();
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && selected) {
    const s = sessions.get(selected);
    if (s) markRead(s);
  }
});

function isOffer(s) {
  return s.state === "WaitingForAgentAnswering" && s.agentID === me.id && !s.ended;
}

function dropSession(sid) {
  const s = sessions.get(sid);
  if (!s) return;
  if (s.ended && sid === selected) return; // keep the finished one on screen until another is chosen
  sessions.delete(sid);
  if (selected === sid) select(null);
  renderSoon();
}

// --- actions ------------------------------------------------------------------
async function act(type, s, extra = {}) {
  try {
    await conn.command({ type, session_id: s.id, ...extra });
    return true;
  } catch (err) {
    toast(`${type} failed: ${err.message}`);
    return false;
  }
}

// --- offline messages: left when nobody could answer; any agent picks one --------
async function loadOffline() {
  try {
    const res = await api.get("/api/v1/offline-messages?limit=20");
    offlineList.replaceChildren(...res.sessions.map((x) =>
      h("li", { class: "offline-item", "data-testid": "offline-message", "data-session": x.id },
        h("div", {}, h("strong", {}, x.customer_name), " ", h("span", { class: "muted" }, x.customer_email)),
        h("p", { class: "muted clip" }, x.description),
        h("button", { type: "button", class: "secondary", onclick: async () => {
          if (await act("pick", { id: x.id })) {
            loadOffline();
            select(x.id); // the hub brings its events (agent.session_added)
          }
        } }, "Pick"))));
    if (!res.sessions.length) offlineList.append(h("li", { class: "muted" }, "None"));
  } catch {
    // the next look tries again
  }
}
loadOffline();
setInterval(loadOffline, 20_000);
addEventListener("focus", loadOffline);

async function closeSession(s) {
  await act("close", s);
}

async function transferDialog(s) {
  let dir;
  try {
    dir = await api.get("/api/v1/directory");
  } catch (err) {
    toast(err.message);
    return;
  }
  const select = h("select", { "aria-label": "Transfer to" },
    h("optgroup", { label: "Agents" }, dir.agents.filter((a) => a.id !== me.id).map((a) =>
      h("option", { value: "agent:" + a.id, disabled: !a.online }, `${a.name} (${a.status}, ${a.load}/${a.capacity})`))),
    h("optgroup", { label: "Teams" }, dir.teams.map((t) => h("option", { value: "team:" + t.id }, "Team: " + t.name))));
  const dialog = h("dialog", { class: "dialog", "aria-label": "Transfer the chat" },
    h("form", { method: "dialog", onsubmit: async (e) => {
      e.preventDefault();
      const [kind, id] = select.value.split(/:(.*)/s);
      if (!id) return;
      if (await act("transfer", s, kind === "agent" ? { agent_id: id } : { team_id: id })) dialog.close();
    } },
      h("h2", {}, "Transfer " + s.customerName),
      h("label", {}, "Transfer to", select),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Confirm transfer"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  select.focus();
}

function select(sid) {
  const prev = selected && sessions.get(selected);
  if (prev?.ended && sid !== selected) sessions.delete(prev.id);
  selected = sid;
  const s = sid && sessions.get(sid);
  pane.show(s || null);
  if (s) {
    markRead(s);
    loadCustomer(s);
  } else {
    side.replaceChildren();
  }
  renderSoon();
}

// --- the customer panel ----------------------------------------------------------
async function loadCustomer(s) {
  const fill = async () => {
    const info = s.info;
    if (!info) return;
    const past = h("ul", { class: "past" });
    side.replaceChildren(...[
      h("h2", {}, "Customer"),
      h("p", { class: "cust-name", "data-testid": "customer-name" }, info.customer_name),
      info.customer_email ? h("p", {}, h("a", { href: "mailto:" + info.customer_email }, info.customer_email)) : null,
      h("dl", {},
        h("dt", {}, "Customer id"), h("dd", {}, info.customer_id),
        h("dt", {}, "Visitor"), h("dd", {}, "#" + info.visitor_id),
        h("dt", {}, "Topic"), h("dd", {}, info.title),
        info.description ? [h("dt", {}, "Question"), h("dd", {}, info.description)] : null,
        h("dt", {}, "Started"), h("dd", {}, new Date(info.created_at).toLocaleString())),
      tagEditor(s),
      h("h3", {}, "Past sessions"), past].filter(Boolean));
    try {
      const res = await api.get(`/api/v1/customers/${encodeURIComponent(info.customer_id)}/sessions?limit=10`);
      if (selected !== s.id) return;
      const others = res.sessions.filter((x) => x.id !== s.id);
      past.replaceChildren(...(others.length ? others.map((x) =>
        h("li", {}, h("button", { type: "button", class: "link", onclick: () => transcript(x) },
          `${new Date(x.created_at).toLocaleDateString()} · ${x.title}`),
          x.rating ? h("span", { class: "stars" }, " " + "★".repeat(x.rating.score)) : null))
        : [h("li", { class: "muted" }, "None")]));
    } catch {
      past.replaceChildren(h("li", { class: "muted" }, "Not available"));
    }
  };
  if (!s.info) {
    try {
      s.info = await api.get("/api/v1/sessions/" + s.id);
    } catch {
      return;
    }
  }
  if (selected === s.id) fill();
}

// transcript shows a past session read-only, paging back through the
// history API (newest first page, then "Load earlier").
async function transcript(x) {
  const log = h("ol", { class: "log", "aria-label": "Transcript" });
  const more = h("button", { type: "button", class: "link", hidden: true }, "Load earlier messages");
  let before = 0;
  const page = async () => {
    const q = before ? `?before=${before}&limit=50` : "?limit=50";
    const res = await api.get(`/api/v1/sessions/${x.id}/messages${q}`);
    const items = res.events.filter((f) => f.type === "message.created").map((f) =>
      h("li", { class: "msg " + (f.from.role === "customer" ? "customer" : "agent") },
        h("span", { class: "who" }, f.from.name), h("span", { class: "text" }, f.message.text)));
    log.prepend(...items);
    if (res.events.length) before = res.events[0].seq;
    more.hidden = !res.has_more;
  };
  more.addEventListener("click", page);
  const dialog = h("dialog", { class: "dialog wide", "aria-label": "Transcript" },
    h("h2", {}, `${x.customer_name} · ${x.title}`), more, log,
    h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  try {
    await page();
  } catch (err) {
    log.replaceChildren(h("li", { class: "muted" }, err.message));
  }
}

// --- rendering -----------------------------------------------------------------
let renderQueued = false;
function renderSoon() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAll();
  });
}

function renderAll() {
  const now = Date.now();
  const mine = [...sessions.values()];
  offers.replaceChildren(...mine.filter(isOffer).map((s) =>
    h("div", { class: "offer", "data-testid": "offer", "data-session": s.id },
      h("div", {}, h("strong", {}, s.customerName), h("p", { class: "muted" }, s.info?.title || "")),
      h("span", { class: "countdown", "data-testid": "offer-countdown", "aria-label": "seconds left" },
        String(Math.max(0, Math.ceil((s.offerDeadline - now) / 1000)))),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", onclick: async () => {
          if (await act("accept", s)) select(s.id);
        } }, "Accept"),
        h("button", { type: "button", class: "secondary", onclick: () => act("decline", s) }, "Decline")))));
  if (!offers.children.length) offers.append(h("p", { class: "muted" }, "No offers"));
  const active = mine.filter((s) => !isOffer(s) && (s.state === "Agent" && s.agentID === me.id || s.id === selected));
  active.sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0));
  list.replaceChildren(...active.map((s) => {
    const unread = s.unreadFor("agent", me.id);
    return h("li", { "data-testid": "session-item", "data-session": s.id, class: s.id === selected ? "selected" : "" },
      h("button", { type: "button", onclick: () => select(s.id), "aria-current": s.id === selected ? "true" : null },
        h("span", { class: "name" }, s.customerName),
        h("span", { class: "wait", title: "waiting for a reply" }, s.waitingSince ? ago((now - s.waitingSince) / 1000) : s.ended ? "ended" : ""),
        h("span", { class: "unread", "data-testid": "unread", hidden: !unread, "aria-label": `${unread} unread` }, unread ? String(unread) : "")));
  }));
  if (!active.length) list.append(h("li", { class: "muted" }, "No conversations"));
  if (selected && !sessions.has(selected)) select(null);
  if (selected) pane.show(sessions.get(selected));
  callView.show(calls.focus(selected));
  document.title = (calls.ringing ? "☎ " : mine.filter(isOffer).length ? "● " : "") + "Agent desktop · Switchboard";
}

setInterval(renderSoon, 1000); // countdowns and waiting times
conn.open(); // last: every listener above hears the first frames
