// supervisor.js: the supervisor view (/supervisor). Live numbers, agents
// with status and load, the queue and a searchable list of sessions, each
// reloaded when the hub says something changed (session.changed,
// agent.status, queue.stats on the supervisor's socket); any session can
// be joined silently and answered in the chat pane. A session with a call
// in progress shows it (media, state, since when) in its Call column; the
// call's events come as session.changed like the others. The Reports tab
// (reports.js) looks back: charts and tables of the reports' figures.

import { ChatPane, SessionModel, ago, connect, h, pageURL, signIn, signOut, toast } from "./desk.js";
import { reportsPanel } from "./reports.js";

const root = document.getElementById("app");
const login = await signIn(root, "Switchboard supervisor view");
if (login.agent.role !== "supervisor" && login.agent.role !== "admin") {
  root.replaceChildren(h("div", { class: "signin" }, h("h1", {}, "Supervisors only"),
    h("p", {}, `${login.agent.name} is an agent; the supervisor view needs a supervisor or admin account.`),
    h("button", { type: "button", class: "primary", onclick: signOut }, "Sign in as someone else")));
  throw new Error("not a supervisor");
}
const me = { id: login.agent.id, name: login.agent.name, agent_role: login.agent.role };
// Watching is not working: this socket does not make the supervisor
// present, so routing offers it nothing (the desktop is for taking chats).
const { conn, api } = connect(login, { observe: true });

const stat = (key, label) => {
  const v = h("span", { class: "v", "data-testid": "stat-" + key }, "–");
  return [v, h("div", { class: "stat" }, v, h("span", { class: "k" }, label))];
};
const [waiting, waitingBox] = stat("waiting", "Waiting");
const [active, activeBox] = stat("active", "Active");
const [endedToday, endedBox] = stat("ended-today", "Ended today");
const [longest, longestBox] = stat("longest-wait", "Longest wait");
const [rating, ratingBox] = stat("rating", "Average rating");
const agentsBody = h("tbody");
const queueBody = h("tbody");
const sessionsBody = h("tbody");
const search = h("input", { type: "search", class: "search", "aria-label": "Search sessions",
  placeholder: "Search by customer, topic, agent, number, id or tag; #tag lists all of a tag",
  oninput: () => (searchTag() || lastTag ? refresh() : renderSessions()) });
let lastTag = ""; // the tag the list was last fetched for ("" the newest sessions)
const paneBox = h("section", { class: "pane", "aria-label": "Chat" });

// The tabs: Live (what happens now) and Reports (what happened), as the
// WAI-ARIA tabs pattern has them (arrow keys, Home and End move between
// the tabs and select them).
const reports = reportsPanel(api);
const TABS = [["live", "Live"], ["reports", "Reports"]];
const tabs = TABS.map(([id, label], i) =>
  h("button", { type: "button", role: "tab", id: "tab-" + id, "aria-controls": "panel-" + id, "data-testid": id + "-tab",
    "aria-selected": String(id === "live"), tabindex: id === "live" ? "0" : "-1", onclick: () => selectTab(id),
    onkeydown: (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      const [other] = TABS[(to + TABS.length) % TABS.length];
      selectTab(other);
      document.getElementById("tab-" + other).focus();
    } }, label));
function selectTab(id) {
  for (const t of tabs) {
    const on = t.id === "tab-" + id;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
  }
  livePanel.hidden = id !== "live";
  reports.panel.hidden = id !== "reports";
  if (id === "reports") reports.show();
}
let livePanel;

root.replaceChildren(
  h("header", { class: "topbar" },
    h("strong", { class: "brand" }, "Switchboard · Supervisor"),
    h("span", { class: "me" }, me.name),
    h("span", { class: "conn", "data-testid": "conn", "data-state": "offline" }, "Connecting…"),
    h("a", { class: "link", href: pageURL("/agent") }, "Agent desktop"),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out")),
  h("div", { class: "tabs", role: "tablist", "aria-label": "Supervisor views" }, tabs),
  livePanel = h("div", { class: "sup", id: "panel-live", role: "tabpanel", "aria-labelledby": "tab-live" },
    h("div", { class: "stats card full", role: "region", "aria-label": "Live numbers" }, waitingBox, activeBox, endedBox, longestBox, ratingBox),
    h("div", { class: "card", role: "region", "aria-label": "Agents" }, h("h2", {}, "Agents"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Agent"), h("th", {}, "Status"), h("th", {}, "Load"))), agentsBody)),
    h("div", { class: "card", role: "region", "aria-label": "Queue" }, h("h2", {}, "Queue"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Customer"), h("th", {}, "Waiting"), h("th", {}, ""))), queueBody)),
    h("div", { class: "card", role: "region", "aria-label": "Sessions" }, h("h2", {}, "Sessions"), search,
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Customer"), h("th", {}, "Status"), h("th", {}, "Agent"), h("th", {}, "Call"), h("th", {}, ""))), sessionsBody)),
    h("div", { class: "card", role: "region", "aria-label": "Joined session" }, h("h2", {}, "Joined session"), paneBox)),
  reports.panel);

// models holds every session this socket follows: the ones joined here,
// and those it follows as an agent (a supervisor is offered sessions too),
// so that joining one of those shows what already arrived.
const models = new Map(); // session id -> SessionModel
const pane = new ChatPane(paneBox, {
  me, conn, api,
  actions: [{ label: "Close chat", when: (s) => !s.ended, run: (s) => conn.command({ type: "close", session_id: s.id }).catch((e) => toast(e.message)) }],
});

let sessions = [];
let queueSince = new Map();

async function refresh() {
  try {
    const [stats, agents, list] = await Promise.all([
      api.get("/api/v1/stats"), api.get("/api/v1/agents"), api.get(sessionsURL()),
    ]);
    waiting.textContent = stats.sessions.waiting;
    active.textContent = stats.sessions.active;
    endedToday.textContent = stats.sessions.ended_today;
    longest.textContent = stats.queue.length ? ago(stats.queue.longest_wait_s) : "–";
    rating.textContent = stats.ratings.count ? `${stats.ratings.average.toFixed(1)} (${stats.ratings.count})` : "–";
    agentsBody.replaceChildren(...agents.agents.filter((a) => a.role !== "bot").map((a) =>
      h("tr", { "data-testid": "agent-row", "data-agent": a.id },
        h("td", {}, a.name), h("td", {}, h("span", { class: "badge-inline", "data-status": a.status }, a.status)),
        h("td", {}, `${a.load}/${a.capacity}`))));
    sessions = list.sessions;
    lastTag = searchTag();
    if (!lastTag) renderQueue(); // a tag's list is not the queue
    renderSessions();
  } catch (err) {
    if (err.status === 401) signOut();
    toast("Not refreshed: " + err.message);
  }
}

function renderQueue() {
  const queued = sessions.filter((s) => s.state === "Queuing" || s.state === "WaitingForAgentAnswering")
    .sort((a, b) => a.number - b.number);
  const now = Date.now();
  queueBody.replaceChildren(...queued.map((s, i) => h("tr", { "data-testid": "queue-row", "data-session": s.id },
    h("td", {}, String(i + 1)), h("td", {}, s.customer_name),
    h("td", {}, ago((now - Date.parse(s.created_at)) / 1000)),
    h("td", {}, s.state === "WaitingForAgentAnswering" ? `offered to ${s.agent_name}` : ""))));
  if (!queued.length) queueBody.append(h("tr", {}, h("td", { colspan: "4", class: "muted" }, "Nobody is waiting")));
}

// sessionsURL lists the newest sessions, or with a search "#tag" every
// session of that tag (the hub filters: GET /api/v1/sessions?tag=).
function sessionsURL() {
  const tag = searchTag();
  return tag ? `/api/v1/sessions?limit=200&tag=${encodeURIComponent(tag)}` : "/api/v1/sessions?limit=200";
}

function searchTag() {
  const m = /^#([a-z0-9][a-z0-9_-]{0,31})$/.exec(search.value.trim().toLowerCase());
  return m ? m[1] : "";
}

function renderSessions() {
  const q = searchTag() ? "" : search.value.trim().toLowerCase();
  const rows = sessions.filter((s) => !q || [s.customer_name, s.title, s.agent_name, s.id, String(s.number), s.customer_email, ...(s.tags || [])]
    .some((v) => (v || "").toLowerCase().includes(q)));
  sessionsBody.replaceChildren(...rows.slice(0, 100).map((s) => h("tr", { "data-testid": "session-row", "data-session": s.id },
    h("td", {}, String(s.number)), h("td", {}, s.customer_name, h("div", { class: "muted" }, s.title),
      (s.tags || []).length ? h("div", { class: "tags", "data-testid": "session-tags" }, ...s.tags.map((t) => h("span", { class: "tag" }, "#" + t))) : null),
    h("td", {}, s.status), h("td", {}, s.agent_name || "–"), h("td", {}, callBadge(s)),
    h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => join(s.id) },
      s.status === "Ended" ? "View" : "Join")))));
  if (!rows.length) sessionsBody.append(h("tr", {}, h("td", { colspan: "6", class: "muted" }, q ? "No session matches" : "No sessions")));
}

// callBadge shows a session's call in progress: "Video · connected · 2m"
// (since it was answered, or since it rang); nothing without one.
function callBadge(s) {
  const c = s.call;
  if (!c) return null;
  const since = Date.parse(c.accepted_at || c.invited_at) || Date.now();
  return h("span", { class: "call-badge", "data-testid": "session-call", "data-state": c.state, "data-media": c.media, "data-since": String(since) },
    callText(c, since));
}

function callText(c, since) {
  return `${c.media === "video" ? "Video" : "Voice"} · ${c.state} · ${ago((Date.now() - since) / 1000)}`;
}

// join follows a session silently (resume from seq 0: the whole
// conversation replays); the customer sees nothing of it.
async function join(sid) {
  let s = models.get(sid);
  if (!s) {
    s = new SessionModel(sid);
    models.set(sid, s);
    try {
      await conn.follow({ [sid]: 0 });
    } catch (err) {
      models.delete(sid);
      toast("Cannot join: " + err.message);
      return;
    }
  }
  if (!s.info) s.info = await api.get("/api/v1/sessions/" + sid).catch(() => null);
  pane.show(s);
}

conn.addEventListener("event", (e) => {
  const f = e.detail;
  let s = models.get(f.session_id);
  if (!s) models.set(f.session_id, (s = new SessionModel(f.session_id)));
  s.apply(f);
  if (f.type === "message.created") pane.seen(f.message.client_msg_id);
  if (pane.session === s) pane.render();
});

conn.addEventListener("resync", (e) => {
  // A joined session the hub could not replay: rebuild it from its first event.
  const sid = e.detail.session_id;
  const old = models.get(sid);
  if (!old) return;
  const s = new SessionModel(sid);
  s.info = old.info;
  models.set(sid, s);
  if (pane.session === old) pane.show(s);
  if (e.detail.reason !== "session_gone") conn.replay(sid).catch(() => conn.drop("replay after a resync"));
});

let timer = null;
function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 250);
}

conn.addEventListener("notice", (e) => {
  const f = e.detail;
  if (f.type === "session.changed" || f.type === "agent.status" || f.type === "queue.stats") refreshSoon();
  if (f.type === "typing") {
    const s = models.get(f.session_id);
    if (s && f.from.id !== me.id) {
      s.typing = f.on ? { name: f.from.name, until: Date.now() + (f.expires_ms || 6000) } : null;
      if (pane.session === s) pane.render();
    }
  }
});
conn.addEventListener("hello", refreshSoon);
conn.open(); // once the listeners above are in place

refresh();
setInterval(() => {
  renderQueue(); // waiting times
  for (const b of sessionsBody.querySelectorAll("[data-testid=session-call]")) {
    b.textContent = callText({ media: b.dataset.media, state: b.dataset.state }, Number(b.dataset.since));
  }
  if (pane.session) pane.render();
}, 1000);
setInterval(refresh, 30000); // the longest wait grows without events
