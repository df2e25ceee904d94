// Idle auto-close in the browser: with SWITCHBOARD_IDLE_WARN and
// SWITCHBOARD_IDLE_CLOSE at 10 s, a customer (hub A) who leaves Bo's
// (hub B) last message unanswered is warned on the widget, Bo's desktop
// says so, and then the chat closes with reason idle on both sides; the
// store says why. (TestIdleAutoClose checks the race of two instances
// sweeping at once; this checks what people see.)
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectVisible } from "../lib/expect.mjs";

const env = new Env("idle");
before(() => env.start({ env: { SWITCHBOARD_IDLE_WARN: "10s", SWITCHBOARD_IDLE_CLOSE: "10s" } }));
after(() => env.teardown());

env.test("a customer who does not answer is warned, then the chat closes as idle on both sides", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(agents.bo);
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  const sid = await establishChat(w, desk, { agentName: "Bo Chen" });

  await desk.send("Is there anything else I can do?");
  await expectVisible(w.msg("Is there anything else I can do?"), { what: "the customer to get Bo's question" });

  // 10 s without an answer (the sweep looks every 5 s): the warning.
  await expectVisible(w.notes.filter({ hasText: /Are you still there\? This chat closes in 1 min unless you reply/ }),
    { timeout: 30_000, what: "the widget's idle warning" });
  await expectVisible(desk.notes.filter({ hasText: /The customer has not answered: the chat closes/ }),
    { timeout: 10_000, what: "Bo's desktop to say the customer has not answered" });

  // 10 s more: closed as idle, on both sides.
  await expectVisible(w.notes.filter({ hasText: "The chat was closed because there was no reply" }),
    { timeout: 30_000, what: "the widget to say the chat closed for want of a reply" });
  await expectVisible(desk.notes.filter({ hasText: "Chat closed: the customer did not answer" }),
    { timeout: 10_000, what: "Bo's desktop to say the chat closed as idle" });
  const ev = await env.cluster.must("GET", `/api/v1/sessions/${sid}/events?after=0`);
  const ended = ev.events.filter((e) => e.type === "session.ended");
  assert.equal(ended.length, 1, "one session.ended");
  assert.equal(ended[0].reason, "idle");
  assert.equal(ev.events.filter((e) => e.type === "session.idle").length, 1, "one warning");
}, { timeout: 120_000 });
