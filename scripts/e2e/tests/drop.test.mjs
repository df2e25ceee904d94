// Network drops: the customer's connection (through a load balancer) is cut
// while the agent writes five messages; once the network is back the widget
// shows exactly those five, once each, in order, and a message the customer
// wrote while offline reaches the agent once. Then the same with the
// customer's instance (the LB's first upstream) stopped: the LB falls
// through to the other instance.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectHidden, expectText, expectCount, expectAttr } from "../lib/expect.mjs";
import { canConnect, until } from "../lib/util.mjs";

const env = new Env("drop");
let boDesk; // Bo, on hub B for the whole file (B stays up)

before(async () => {
  await env.start();
  const bo = await env.browser.party("agent-bo");
  boDesk = new Desk(bo.page, env.hubs[1].url);
  await boDesk.login(env.seeded.agents.bo);
  await boDesk.setStatus("Available");
});
after(() => env.teardown());

/** Checks that every text shows once in the widget and that `wanted` come in this order. */
async function expectOnceInOrder(w, wanted, what) {
  for (const t of wanted) await expectCount(w.msg(t), 1, { timeout: 30_000, what: `${what}: ${JSON.stringify(t)} exactly once` });
  const texts = (await w.texts()).map((t) => t.trim());
  const dupes = texts.filter((t, i) => texts.indexOf(t) !== i);
  assert.deepEqual(dupes, [], `${what}: no message shows twice: ${JSON.stringify(texts)}`);
  assert.deepEqual(texts.filter((t) => wanted.includes(t)), wanted, `${what}: in order`);
}

/**
 * One drop: a chat through `lb`, the network goes (LB cut + context
 * offline), `whileDown` runs (e.g. stopping an instance), the customer
 * writes one message and Bo five, the network comes back.
 */
async function dropAndRecover(label, { whileDown = async () => {} } = {}) {
  const lb = await env.lb([0, 1]);
  const cust = await env.browser.party(`customer-${label}`, { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(lb.url));
  const w = new Widget(cust.page);
  const name = `Maria ${label}`;
  const sid = await establishChat(w, boDesk, { name, agentName: "Bo Chen" });

  // Some conversation before the drop.
  const before = [`(${label}) hello before the drop`, `(${label}) agent answer before the drop`];
  await w.send(before[0]);
  await boDesk.expectMsg(before[0], "customer");
  await boDesk.send(before[1]);
  await w.expectMsg(before[1], "agent");

  // The network goes.
  lb.cut();
  await cust.context.setOffline(true);
  await expectText(w.offline, /reconnecting/i, { timeout: 15_000, what: 'the widget\'s offline banner ("Reconnecting…")' });
  await whileDown();

  // The customer writes while offline: it shows, pending.
  const offlineText = `(${label}) typed while offline`;
  await w.send(offlineText);
  await expectCount(w.msg(offlineText), 1, { what: "the message typed offline to show at once" });
  await expectAttr(w.msg(offlineText).locator("[data-testid=sb-tick]"), "data-state", "pending", { what: "the message typed offline to be pending" });

  // Bo writes five.
  const five = [1, 2, 3, 4, 5].map((i) => `(${label}) agent message ${i} while the customer is away`);
  for (const t of five) {
    await boDesk.send(t);
    await boDesk.expectMsg(t, "agent");
  }
  await expectHidden(w.msg(five[0]), { what: "nothing reaches the customer while offline" });
  assert.equal(await w.msg(five[0]).count(), 0, "nothing reached the customer while offline");

  // The network comes back.
  await cust.context.setOffline(false);
  lb.restore();
  await expectOnceInOrder(w, [...before, ...five], "the widget after reconnecting");
  await expectHidden(w.offline, { timeout: 30_000, what: "the offline banner to go once reconnected" });
  // The message typed offline arrives once, and is no longer pending.
  await boDesk.expectMsg(offlineText, "customer", { timeout: 30_000 });
  await expectCount(w.msg(offlineText), 1, { what: "the message typed offline still once in the widget" });
  await expectAttr(w.msg(offlineText).locator("[data-testid=sb-tick]"), "data-state", "read", { timeout: 15_000, what: "the message typed offline to be read by Bo" });
  // Bo sees each of his five once too.
  for (const t of five) await expectCount(boDesk.msg(t), 1, { what: `Bo's desktop shows ${JSON.stringify(t)} once` });

  // And the chat still works both ways.
  await w.send(`(${label}) back online`);
  await boDesk.expectMsg(`(${label}) back online`, "customer");
  await boDesk.send(`(${label}) welcome back`);
  await w.expectMsg(`(${label}) welcome back`, "agent");
  return { lb, cust, w, sid };
}

env.test("(a) a network drop: the five messages sent meanwhile arrive once, in order", async () => {
  const { lb, sid } = await dropAndRecover("a");
  // The customer stayed on hub A.
  assert.ok(lb.log.every((l) => l.endsWith(`-> ${env.hubs[0].port}`)), `all through hub A: ${lb.log.join("; ")}`);
  // Close it, so that Bo's desktop is free for (b).
  await boDesk.closeButton.click();
  // The desktop keeps the finished chat on screen, marked ended, until another is chosen.
  await expectText(boDesk.sessionItem(sid), /ended/i, { timeout: 15_000, what: "the closed session to show as ended in Bo's list" });
  await expectText(boDesk.notes, /ended/i, { what: "a notice in Bo's pane that the chat ended" });
}, { timeout: 90_000 });

env.test("(b) the customer's instance dies: the LB falls through to B and the five arrive once, in order", async () => {
  const A = env.hubs[0];
  const { lb } = await dropAndRecover("b", {
    whileDown: async () => {
      await env.cluster.stop(0);
      await until("hub A's port to close", async () => !(await canConnect(A.port)), { timeout: 10_000 });
    },
  });
  assert.ok(lb.log.some((l) => l.endsWith(`-> ${env.hubs[1].port}`)), `the customer reconnected through hub B: ${lb.log.join("; ")}`);
}, { timeout: 90_000 });
