// reports.js: the Reports tab of /supervisor. It reads GET
// /api/v1/reports/sessions (by hour for a day or two, else by day) and
// /api/v1/reports/agents for the chosen range, in the hub's time zone, and
// shows the totals, six charts (each with its data table: chart.js) and a
// sortable per-agent table; the CSV button downloads the same report.
// docs/reports.md defines every figure.

import { h } from "./dom.js";
import { tenantURL } from "./api.js";
import { chart, fmt } from "./chart.js";

// addDays moves a YYYY-MM-DD date by n days (calendar arithmetic in UTC,
// so that no local time zone of the browser gets in the way).
function addDays(date, n) {
  const d = new Date(date + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function daysBetween(from, to) {
  return Math.round((Date.parse(to + "T00:00:00Z") - Date.parse(from + "T00:00:00Z")) / 86400000) + 1;
}

const RANGES = [["today", "Today"], ["7d", "7 days"], ["30d", "30 days"], ["custom", "Custom"]];

// reportsPanel returns the tab's panel; it loads when first shown (show).
export function reportsPanel(api) {
  let today = ""; // in the hub's time zone, learned from its first answer
  let kind = "today";
  let shown = null; // the query of what is on screen: {group, from, to}
  let loading = 0; // the number of the latest load: only its answer is shown
  let agentRows = [];
  let sortBy = { col: "label", dir: 1 };

  const status = h("p", { class: "muted", role: "status", "aria-live": "polite", "data-testid": "reports-status" });
  const rangeButtons = RANGES.map(([k, label]) =>
    h("button", { type: "button", class: "secondary range", "data-testid": "range-" + k, "aria-pressed": String(k === kind), onclick: () => pick(k) }, label));
  const fromIn = h("input", { type: "date", required: true, "aria-label": "From", "data-testid": "range-from" });
  const toIn = h("input", { type: "date", required: true, "aria-label": "To (included)", "data-testid": "range-to" });
  const custom = h("form", { class: "custom", hidden: true, onsubmit: (e) => { e.preventDefault(); load(); } },
    fromIn, h("span", { "aria-hidden": "true" }, "–"), toIn, h("button", { type: "submit", class: "secondary" }, "Show"));
  const csv = h("button", { type: "button", class: "secondary", "data-testid": "reports-csv", onclick: () => downloadCSV() }, "Download CSV");
  const tiles = h("div", { class: "stats card full", role: "region", "aria-label": "Totals of the range" });
  const charts = h("div", { class: "charts" });
  const agentsBody = h("tbody");
  const agentsHead = h("tr");
  const agentsCard = h("div", { class: "card full", role: "region", "aria-label": "Agents" },
    h("h2", {}, "Agents"),
    h("div", { class: "scroll" }, h("table", { class: "data sortable", "data-testid": "agent-table" },
      h("caption", { class: "sr-only" }, "Figures per agent; the column headers sort"), h("thead", {}, agentsHead), agentsBody)));
  const panel = h("section", { class: "reports", id: "panel-reports", role: "tabpanel", "aria-labelledby": "tab-reports", hidden: true },
    h("div", { class: "card full rangebar", role: "group", "aria-label": "Range" },
      h("span", { class: "k" }, "Range"), rangeButtons, custom, h("span", { class: "spacer" }), csv),
    status, tiles, charts, agentsCard);

  async function pick(k) {
    kind = k;
    for (const b of rangeButtons) b.setAttribute("aria-pressed", String(b.dataset.testid === "range-" + k));
    custom.hidden = k !== "custom";
    if (k === "custom") {
      if (!(await learnToday())) return;
      if (!fromIn.value) fromIn.value = addDays(today, -6);
      if (!toIn.value) toIn.value = today;
      fromIn.focus();
      return;
    }
    load();
  }

  function query() {
    let from = today, to = today;
    if (kind === "7d") from = addDays(today, -6);
    if (kind === "30d") from = addDays(today, -29);
    if (kind === "custom") [from, to] = [fromIn.value, toIn.value];
    return { from, to, group: daysBetween(from, to) <= 2 ? "hour" : "day" };
  }

  // learnToday asks the hub which day it is in its time zone (a report
  // with no range is today's), once; false when the hub did not answer.
  async function learnToday() {
    if (today) return true;
    try {
      const first = await api.get("/api/v1/reports/sessions?group=hour");
      today = first.from.slice(0, 10);
      return true;
    } catch (err) {
      status.textContent = "Could not load the report: " + err.message;
      return false;
    }
  }

  // load shows the chosen range; a click on another range while it loads
  // wins: an older answer arriving last is dropped.
  async function load() {
    const mine = ++loading;
    if (!(await learnToday()) || mine !== loading) return;
    const q = query();
    if (!(q.from <= q.to)) {
      status.textContent = "The range must start on or before its end.";
      return;
    }
    status.textContent = "Loading…";
    try {
      const range = `from=${q.from}&to=${q.to}`;
      const [rep, ag] = await Promise.all([
        api.get(`/api/v1/reports/sessions?group=${q.group}&${range}`),
        api.get(`/api/v1/reports/agents?${range}`),
      ]);
      if (mine !== loading) return;
      shown = q;
      render(rep, ag);
      status.textContent = `${q.from === q.to ? q.from : q.from + " to " + q.to}, by ${q.group}, ${rep.timezone} time.`;
    } catch (err) {
      if (mine === loading) status.textContent = "Could not load the report: " + err.message;
    }
  }

  // labelsOf names the rows: in the tables and tooltips unambiguously (the
  // day too for hours over several days), under the x axis briefly (an
  // hour, or the date at midnight; a day without its year).
  function labelsOf(rep) {
    if (rep.group !== "hour") return { labels: rep.rows.map((r) => r.label), ticks: rep.rows.map((r) => r.label.slice(5)) };
    const days = new Set(rep.rows.map((r) => r.label.slice(0, 10))).size;
    return {
      labels: rep.rows.map((r) => r.label.slice(days > 1 ? 5 : 11)),
      ticks: rep.rows.map((r) => (days > 1 && r.label.endsWith(" 00:00") ? r.label.slice(5, 10) : r.label.slice(11))),
    };
  }

  function render(rep, ag) {
    const rows = rep.rows;
    const { labels, ticks } = labelsOf(rep);
    const col = (key) => rows.map((r) => r[key]);
    const t = rep.total;
    const tile = (key, label, value) =>
      h("div", { class: "stat" }, h("span", { class: "v", "data-testid": "rep-" + key }, value), h("span", { class: "k" }, label));
    tiles.replaceChildren(
      tile("created", "Chats", fmt(t.created)),
      tile("answered", "Answered", fmt(t.answered)),
      tile("abandoned", "Abandoned", fmt(t.abandoned)),
      tile("service-level", `Answered within ${rep.service_level_s} s`, fmt(t.service_level, "%")),
      tile("wait", "Average wait", fmt(t.wait_avg_s, "s")),
      tile("first-response", "Average first response", fmt(t.first_response_avg_s, "s")),
      tile("csat", "CSAT (4–5 stars)", fmt(t.csat, "%")));
    const series = (key, name) => ({ key, name, values: col(key), total: t[key] });
    charts.replaceChildren(
      chart({ id: "volume", title: `Chats per ${rep.group}`, kind: "bar", labels, ticks,
        series: [series("created", "Created"), series("answered", "Answered"), series("abandoned", "Abandoned")] }),
      chart({ id: "wait", title: "Wait before an agent answered", kind: "line", unit: "s", labels, ticks,
        series: [series("wait_p50_s", "Median (p50)"), series("wait_p90_s", "p90")], note: "read from the histogram, within its bucket" }),
      chart({ id: "sl", title: "Service level", kind: "line", unit: "%", labels, ticks,
        series: [series("service_level", `Answered within ${rep.service_level_s} s`)], note: "of chats answered or abandoned" }),
      chart({ id: "frt", title: "First response and handle time", kind: "line", unit: "s", labels, ticks,
        series: [series("first_response_avg_s", "First response (average)"), series("handle_avg_s", "Handle time (average)")] }),
      chart({ id: "abandon", title: "Abandonment", kind: "line", unit: "%", labels, ticks,
        series: [series("abandon_rate", "Abandoned before an answer")] }),
      chart({ id: "csat", title: "Customer satisfaction", kind: "bar", unit: "%", labels, ticks,
        series: [series("csat", "Ratings of 4 or 5 stars")], note: `${t.rating_count} ratings, average ${fmt(t.rating_avg)}` }));
    const statuses = ag.columns.filter((c) => c.startsWith("status_")).map((c) => c.slice(7, -2));
    agentRows = ag.rows.filter((r) => r.key !== "");
    const cols = [["label", "Agent", ""], ["answered", "Answered", ""], ["ended", "Ended", ""], ["wait_avg_s", "Average wait", "s"],
      ["first_response_avg_s", "First response", "s"], ["handle_avg_s", "Handle time", "s"], ["rating_avg", "Rating", ""],
      ["rating_count", "Ratings", ""], ["csat", "CSAT", "%"],
      ...statuses.map((st) => ["status:" + st, st, "s"])];
    agentsHead.replaceChildren(...cols.map(([key, name]) =>
      h("th", { scope: "col", "data-col": key, "aria-sort": sortBy.col === key ? (sortBy.dir > 0 ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", onclick: () => sortOn(key) }, name))));
    renderAgents(cols);
  }

  function value(row, key) {
    return key.startsWith("status:") ? row.status_s?.[key.slice(7)] : row[key];
  }

  function sortOn(key) {
    sortBy = { col: key, dir: sortBy.col === key ? -sortBy.dir : 1 };
    for (const th of agentsHead.children) {
      th.setAttribute("aria-sort", th.dataset.col === key ? (sortBy.dir > 0 ? "ascending" : "descending") : "none");
    }
    renderAgents([...agentsHead.children].map((th) => [th.dataset.col, "", th.dataset.col.startsWith("status:") ? "s" : unitOf(th.dataset.col)]));
  }

  function unitOf(key) {
    return key === "csat" ? "%" : key.endsWith("_s") ? "s" : "";
  }

  function renderAgents(cols) {
    const { col, dir } = sortBy;
    const sorted = [...agentRows].sort((a, b) => {
      const x = value(a, col), y = value(b, col);
      if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1; // no data last
      return (typeof x === "string" ? x.localeCompare(y) : x - y) * dir;
    });
    agentsBody.replaceChildren(...sorted.map((r) => h("tr", { "data-agent": r.key },
      cols.map(([key, , unit], i) => {
        const v = value(r, key);
        const text = key === "label" ? r.label : fmt(v, unit || unitOf(key));
        return i === 0 ? h("th", { scope: "row" }, text) : h("td", { "data-col": key }, text);
      }))));
    if (!sorted.length) agentsBody.replaceChildren(h("tr", {}, h("td", { colspan: cols.length, class: "muted" }, "No agent worked in this range.")));
  }

  async function downloadCSV() {
    if (!shown) return;
    const path = `/api/v1/reports/sessions?group=${shown.group}&from=${shown.from}&to=${shown.to}&format=csv`;
    try {
      const res = await fetch(tenantURL(path, api.base, api.tenant), { headers: { Authorization: "Bearer " + api.token }, cache: "no-store" });
      if (!res.ok) {
        const body = await res.json().catch(() => null); // the hub's {"error":{…}}
        throw new Error(body?.error?.message || res.statusText || "HTTP " + res.status);
      }
      const name = /filename="?([^";]+)/.exec(res.headers.get("Content-Disposition") || "")?.[1] || "switchboard-report.csv";
      const url = URL.createObjectURL(await res.blob());
      const a = h("a", { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      status.textContent = "Could not download the CSV: " + err.message;
    }
  }

  return {
    panel,
    // show loads the report the first time the tab is shown, and again
    // (the same range) when it is shown later: figures move on.
    show: () => load(),
  };
}
