// The origin allow-list: the widget on the allowed shop starts a chat; on a
// shop that is not allowed it shows an error, creates no session, and a
// WebSocket opened from that page to the hub never opens.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget } from "../lib/pages.mjs";
import { expectVisible, expectText, expectCount } from "../lib/expect.mjs";

const env = new Env("origin");
before(() => env.start());
after(() => env.teardown());

/** Opens a WebSocket from the page; resolves to "open", or "error"/"close <code>" if it never opened (10 s at most). */
function tryWebSocket(page, url) {
  return page.evaluate((url) => new Promise((resolve) => {
    let ws;
    try {
      ws = new WebSocket(url, "switchboard.v1");
    } catch (e) {
      resolve(`threw ${e.message}`);
      return;
    }
    const events = [];
    const done = (what) => { clearTimeout(t); resolve(what); };
    const t = setTimeout(() => done(`nothing within 10 s (${events.join(",")})`), 10_000);
    ws.onopen = () => { ws.close(); done("open"); };
    ws.onerror = () => events.push("error");
    ws.onclose = (e) => done(`${events.join(",")}${events.length ? "," : ""}close ${e.code}`);
  }), url);
}

env.test("the allowed shop's widget starts a chat; a foreign shop's gets an error and creates nothing", async () => {
  const A = env.hubs[0];
  const wsURL = A.url.replace(/^http/, "ws") + "/ws";

  // Allowed: the chat starts (it queues: no agent is online) and the socket opens.
  const ok = await env.browser.party("customer-allowed", { viewport: { width: 420, height: 760 } });
  await ok.page.goto(env.shop.pageUrl(A.url, { offline: "never" })); // queue, not the offline form
  const w = new Widget(ok.page);
  await w.open();
  await w.startChat({ name: "Allowed Alice", question: "Hello?" });
  await expectText(w.queue, /number 1 in the queue/i, { timeout: 15_000, what: "the allowed shop's customer to be queued" });
  assert.equal(await w.error.filter({ visible: true }).count(), 0, "no error on the allowed shop");
  // A reload keeps the conversation, and the place in the queue.
  await ok.page.reload();
  await expectVisible(w.panel.or(w.launcher), { timeout: 15_000, what: "the widget after a reload" });
  if (!(await w.panel.isVisible())) await w.open();
  await expectText(w.queue, /number 1 in the queue/i, { timeout: 15_000, what: 'the widget to show "You are number 1 in the queue" again after a reload' });
  assert.equal(await tryWebSocket(ok.page, wsURL), "open", "a WebSocket from the allowed shop opens");
  const sessions = await env.cluster.sessions();
  assert.deepEqual(sessions.map((s) => s.customer_name), ["Allowed Alice"], "one session, the allowed customer's");

  // Not allowed: the widget still loads (a script), but starting a chat fails visibly.
  const bad = await env.browser.party("customer-foreign", { viewport: { width: 420, height: 760 } });
  await bad.page.goto(env.foreignShop.pageUrl(A.url));
  const wb = new Widget(bad.page);
  await wb.open();
  await wb.startChat({ name: "Foreign Fred", question: "Hello?" });
  await expectVisible(wb.error, { timeout: 15_000, what: "[data-testid=sb-error] on the foreign shop" });
  const msg = (await wb.error.textContent()).trim();
  assert.ok(msg.length > 0, "the error says something");
  await expectCount(wb.queue.filter({ visible: true }), 0, { what: "no queue position on the foreign shop" });

  // No session was created for Fred (the REST call must not even have run).
  const after = await env.cluster.sessions();
  assert.deepEqual(after.map((s) => s.customer_name), ["Allowed Alice"], "no new session from the foreign shop");

  // A WebSocket from the foreign page never opens (403 at the handshake).
  const r = await tryWebSocket(bad.page, wsURL);
  assert.notEqual(r, "open", "a WebSocket from the foreign shop must not open");
  assert.match(r, /error|close/, `the foreign WebSocket failed: ${r}`);
});
