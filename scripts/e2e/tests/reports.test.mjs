// The Reports tab of /supervisor with a scripted morning: four chats
// through the real hubs (widget sessions, messages over real WebSockets,
// assignment, closes and ratings), then the supervisor reads them as
// charts and tables, switches the range, downloads the CSV and sorts the
// agents. The screenshot is the README's.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { Env } from "../lib/env.mjs";
import { Desk } from "../lib/pages.mjs";
import { expectText, expectAttr, expectCount, expectVisible, expectHidden } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("reports");
before(() => env.start());
after(() => env.teardown());

// send writes a chat message as the holder of token, over a WebSocket the
// page opens (the page is on the hub's origin, which the hub allows).
async function send(page, hubURL, token, sessionId, text) {
  await page.goto(hubURL + "/healthz");
  const reply = await page.evaluate(async ({ url, token, sessionId, text }) => {
    const ws = new WebSocket(url, "switchboard.v1");
    const frames = [];
    const next = (type, id) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no " + type + " " + id + " in " + JSON.stringify(frames))), 10_000);
      ws.addEventListener("message", (e) => {
        const f = JSON.parse(e.data);
        frames.push(f);
        if (f.type === type && (!id || f.id === id)) { clearTimeout(t); resolve(f); }
      });
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", () => reject(new Error("the WebSocket did not open")), { once: true });
    });
    const hello = next("hello");
    ws.send(JSON.stringify({ type: "auth", id: "a", token }));
    await hello;
    const done = next("reply", "s");
    ws.send(JSON.stringify({ type: "send", id: "s", session_id: sessionId, client_msg_id: "m" + Math.random().toString(36).slice(2), text }));
    const r = await done;
    ws.close();
    return r;
  }, { url: hubURL.replace(/^http/, "ws") + "/ws", token, sessionId, text });
  assert.equal(reply.ok, true, `send ${text}: ${JSON.stringify(reply)}`);
}

env.test("the Reports tab charts the morning, switches range, downloads the CSV and sorts the agents", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const c = env.cluster;
  const login = async (a) => (await c.must("POST", "/api/v1/auth/login", { body: { email: a.email, password: a.password }, auth: null })).token;
  const bo = await login(agents.bo);
  const ana = await login(agents.ana);
  const widget = async (name) => c.must("POST", "/api/v1/widget/sessions", { body: { name, title: "Order" }, auth: null }, 201);
  const tool = await env.browser.party("script");

  // Maria: answered by Bo, who replies; Bo closes; she rates 5.
  const maria = await widget("Maria");
  await send(tool.page, A.url, maria.token, maria.session.id, "Where is my parcel?");
  await c.must("POST", `/customer-service/sessions/${maria.session.id}/assign`, { body: { agent_id: agents.bo.id, agent_name: agents.bo.name } });
  await send(tool.page, B.url, bo, maria.session.id, "Hello Maria, it ships today.");
  // Ken: answered by Ana on the other instance; he closes; he rates 2.
  const ken = await widget("Ken");
  await send(tool.page, B.url, ken.token, ken.session.id, "I was charged twice");
  await c.must("POST", `/customer-service/sessions/${ken.session.id}/assign`, { body: { agent_id: agents.ana.id, agent_name: agents.ana.name } }, 200);
  await send(tool.page, A.url, ana, ken.session.id, "Let me look at that.");
  // Lena leaves before anyone answers: abandoned. Omar is still waiting.
  const lena = await widget("Lena");
  const omar = await widget("Omar");
  await c.must("DELETE", `/api/v1/sessions/${lena.session.id}`, { auth: lena.token });
  await c.must("DELETE", `/api/v1/sessions/${maria.session.id}`, { auth: bo });
  await c.must("DELETE", `/api/v1/sessions/${ken.session.id}`, { auth: ken.token, hub: 1 });
  await c.must("POST", `/api/v1/sessions/${maria.session.id}/rating`, { body: { score: 5 }, auth: maria.token });
  await c.must("POST", `/api/v1/sessions/${ken.session.id}/rating`, { body: { score: 2, comment: "slow" }, auth: ken.token });
  assert.ok(omar.session.id);

  // Reports are for supervisors: an agent's token gets the native 403.
  const refused = await c.api("GET", "/api/v1/reports/sessions?group=hour", { auth: bo });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.ok(refused.body?.error?.code && refused.body.error.message, `the native error envelope: ${JSON.stringify(refused.body)}`);

  const sam = await env.browser.party("supervisor-sam", { viewport: { width: 1280, height: 1040 } });
  const desk = new Desk(sam.page, B.url);
  await desk.login(agents.sam, "/supervisor");
  const page = sam.page;
  // Live is the default tab, as before.
  await expectAttr(page.locator("[data-testid=live-tab]"), "aria-selected", "true", { what: "the Live tab selected by default" });
  await expectText(page.locator("[data-testid=stat-ended-today]"), "3", { what: "Live: 3 ended today" });
  await expectHidden(page.locator("#panel-reports"), { what: "the Reports panel hidden at first" });
  await page.getByRole("tab", { name: "Reports" }).click();
  await expectAttr(page.locator("[data-testid=reports-tab]"), "aria-selected", "true", { what: "the Reports tab to be selected" });

  // Today, by hour: the totals and the volume chart's data table.
  await expectText(page.locator("[data-testid=rep-created]"), "4", { what: "4 chats today" });
  await expectText(page.locator("[data-testid=rep-answered]"), "2", { what: "2 answered" });
  await expectText(page.locator("[data-testid=rep-abandoned]"), "1", { what: "1 abandoned" });
  const volume = page.locator("[data-testid=table-volume]");
  const total = (table, col) => table.locator(`tfoot td[data-col=${col}]`);
  await expectText(total(volume, "created"), "4", { state: "attached", what: "the volume table's total created" });
  await expectText(total(volume, "answered"), "2", { state: "attached", what: "the volume table's total answered" });
  await expectText(total(volume, "abandoned"), "1", { state: "attached", what: "the volume table's total abandoned" });
  await expectCount(volume.locator("tbody tr"), 24, { what: "24 hours in today's volume table" });
  await expectText(total(page.locator("[data-testid=table-csat]"), "csat"), "50%", { state: "attached", what: "CSAT 50% (one 5, one 2)" });
  await expectText(total(page.locator("[data-testid=table-abandon]"), "abandon_rate"), "33.3%", { state: "attached", what: "1 abandoned of 3 with an outcome" });
  for (const id of ["volume", "wait", "sl", "frt", "abandon", "csat"]) {
    const marks = await page.locator(`[data-testid=chart-${id}]`).locator("rect, path, circle").count();
    assert.ok(marks > 0, `chart ${id} draws nothing`);
    const label = await page.locator(`[data-testid=chart-${id}]`).getAttribute("aria-label");
    assert.ok(label && !/: no data\./.test(label), `chart ${id}'s label: ${label}`);
    // A figure with its caption, the svg and the same numbers as a table.
    const figure = page.locator(`figure[data-chart=${id}]`);
    await expectCount(figure.locator("figcaption"), 1, { what: `chart ${id}'s figcaption` });
    await expectCount(figure.locator(`table[data-testid=table-${id}]`), 1, { what: `chart ${id}'s data table in its figure` });
  }
  const ticks = await page.locator("[data-testid=chart-volume] text.tick").allTextContents();
  assert.ok(ticks.every((t) => !t.includes(".")), `whole numbers on the volume axis: ${ticks}`);
  await page.screenshot({ path: screenshotPath("reports.png") });

  // The data table opens with the keyboard.
  await page.locator("[data-chart=volume] summary").focus();
  await page.keyboard.press("Enter");
  await expectVisible(volume, { what: "the volume data table after Enter on its summary" });

  // The agents: Bo and Ana answered one each; sorting by Agent flips them.
  const rows = page.locator("[data-testid=agent-table] tbody tr");
  await expectCount(rows, 3, { what: "Bo, Ana and Sam in the agent table" });
  const names = async () => rows.locator("th").allTextContents();
  assert.deepEqual(await names(), ["Ana Lima", "Bo Chen", "Sam Super"]);
  await expectText(page.locator("[data-testid=agent-table] tr[data-agent=agent_bo] td[data-col=answered]"), "1", { what: "Bo answered 1" });
  await page.locator("[data-testid=agent-table] th[data-col=label] button").click();
  await expectAttr(page.locator("[data-testid=agent-table] th[data-col=label]"), "aria-sort", "descending", { what: "Agent sorted descending" });
  assert.deepEqual(await names(), ["Sam Super", "Bo Chen", "Ana Lima"]);
  await page.locator("[data-testid=agent-table] th[data-col=wait_avg_s] button").click();
  await expectAttr(page.locator("[data-testid=agent-table] th[data-col=wait_avg_s]"), "aria-sort", "ascending", { what: "Average wait sorted ascending" });
  assert.equal((await names()).at(-1), "Sam Super", "no data (Sam answered nothing) sorts last");

  // 7 days: by day, seven rows, today's the last.
  await page.locator("[data-testid=range-7d]").click();
  await expectCount(volume.locator("tbody tr"), 7, { what: "7 days in the volume table" });
  await expectText(volume.locator("tbody tr").last().locator("td[data-col=created]"), "4", { state: "attached", what: "today's 4 chats in the last row" });
  await expectText(page.locator("[data-testid=reports-status]"), /by day/, { what: "the status line to say by day" });

  // The CSV of what is shown.
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("[data-testid=reports-csv]").click()]);
  assert.match(download.suggestedFilename(), /^switchboard-report-day-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
  const csv = fs.readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.match(csv[0], /^key,label,created,answered,abandoned,ended/);
  assert.equal(csv.length, 1 + 7 + 1, "a header, 7 days and the total");
  assert.equal(csv.at(-1).split(",").slice(0, 6).join(","), "total,Total,4,2,1,3");

  // Custom: yesterday alone has nothing.
  await page.locator("[data-testid=range-custom]").click();
  const yesterday = await page.locator("[data-testid=range-to]").inputValue().then((d) => {
    const t = new Date(d + "T00:00:00Z");
    t.setUTCDate(t.getUTCDate() - 1);
    return t.toISOString().slice(0, 10);
  });
  await page.locator("[data-testid=range-from]").fill(yesterday);
  await page.locator("[data-testid=range-to]").fill(yesterday);
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await expectText(page.locator("[data-testid=rep-created]"), "0", { what: "no chats yesterday" });
  await expectCount(volume.locator("tbody tr"), 24, { what: "a one-day custom range by hour" });

  // Custom, yesterday and today: by hour, 48 rows, each named with its day.
  const today = await page.locator("[data-testid=range-to]").inputValue().then((d) => {
    const t = new Date(d + "T00:00:00Z");
    t.setUTCDate(t.getUTCDate() + 1);
    return t.toISOString().slice(0, 10);
  });
  await page.locator("[data-testid=range-to]").fill(today);
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await expectText(page.locator("[data-testid=rep-created]"), "4", { what: "4 chats yesterday and today" });
  await expectCount(volume.locator("tbody tr"), 48, { what: "a two-day custom range by hour" });
  const hours = await volume.locator("tbody th").allTextContents();
  assert.equal(new Set(hours).size, 48, `48 distinct row names: ${hours}`);
  assert.equal(hours[0], yesterday.slice(5) + " 00:00");

  // Back to Live with the keyboard (Home on the tabs): the live view is there.
  await page.locator("[data-testid=reports-tab]").focus();
  await page.keyboard.press("Home");
  await expectAttr(page.locator("[data-testid=live-tab]"), "aria-selected", "true", { what: "Home selects Live" });
  await expectHidden(page.locator("#panel-reports"), { what: "the Reports panel hidden again" });
  await expectText(page.locator("[data-testid=stat-waiting]"), "1", { what: "Live: Omar waiting" });
}, { timeout: 120_000 });
