// The whole flow across two instances: a customer on hub A (the shop's
// widget loaded through a load balancer whose first upstream is A), agent Bo
// on hub B, agent Ana on hub A. Queue position, offer and accept, ten
// messages each way with typing indicators and read ticks, a reload, a
// supervisor's view and silent join, a transfer to Ana, Ana closes, the
// customer rates, and Ana's desktop shows the rating.
// It also writes docs/screenshots/{widget,agent-desktop,supervisor}.png
// (artifacts/screenshots/ with E2E_SCREENSHOTS=0).
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectVisible, expectHidden, expectText, expectCount, expectAtLeast, exactly } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("flow");
before(() => env.start());
after(() => env.teardown());

/** The texts of `all` that are in `wanted`, in page order. */
const only = (all, wanted) => all.map((t) => t.trim()).filter((t) => wanted.includes(t));

/** Checks that data-seq of the matched elements are numbers, strictly increasing. */
async function expectIncreasingSeqs(locator, what) {
  const seqs = await locator.evaluateAll((els) => els.map((e) => e.getAttribute("data-seq")));
  const nums = seqs.map(Number);
  assert.ok(seqs.every((s) => s && /^\d+$/.test(s)), `${what}: every message has a numeric data-seq: ${JSON.stringify(seqs)}`);
  for (let i = 1; i < nums.length; i++) assert.ok(nums[i] > nums[i - 1], `${what}: data-seq increases: ${JSON.stringify(seqs)}`);
}

env.test("customer on A, Bo on B: queue, offer, 10+10 messages, typing, read ticks, supervisor, transfer to Ana, close, rating", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const lb = await env.lb([0, 1]); // the customer's path: A first

  // Bo on hub B, Ana on hub A; both on lunch so that the customer waits.
  const bo = await env.browser.party("agent-bo");
  const boDesk = new Desk(bo.page, B.url);
  await boDesk.login(agents.bo);
  await boDesk.setStatus("lunch");
  const ana = await env.browser.party("agent-ana");
  const anaDesk = new Desk(ana.page, A.url);
  await anaDesk.login(agents.ana);
  await anaDesk.setStatus("lunch");

  // The customer, on the allowed shop, through the LB (to A).
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(lb.url, { offline: "never" })); // the agents are on lunch: this test is about the queue
  const w = new Widget(cust.page);
  await w.open();
  await w.startChat({ name: "Maria", email: "maria@example.com", question: "Where is my parcel?" });
  await expectText(w.queue, /number 1 in the queue/i, { timeout: 15_000, what: 'the widget to show "You are number 1 in the queue"' });
  assert.ok(lb.log.length > 0 && lb.log.every((l) => l.endsWith(`-> ${A.port}`)), `the widget's traffic went through the LB to hub A: ${lb.log.join("; ")}`);

  // Bo becomes Available: the offer, with its countdown; Bo accepts.
  await boDesk.setStatus("Available");
  const sid = await boDesk.acceptOffer({ customerName: "Maria" });
  await expectText(w.agent, "Bo Chen", { what: "the widget to show Bo Chen as the agent" });
  await expectHidden(w.queue, { what: "the queue position to go once an agent joined" });
  await expectText(boDesk.sessionItem(sid), "Maria", { what: `Bo's "My sessions" to list ${sid} with the customer's name` });
  await expectVisible(boDesk.log, { what: "Bo's conversation pane" });
  await expectText(boDesk.customerName, "Maria", { what: "the Customer side panel to show Maria" });
  await expectText(boDesk.myStatus, /in-call/i, { what: "Bo's status to show In-call while handling a session" });
  // Ana becomes Available now (nothing is queued) so that she can take the transfer later.
  await anaDesk.setStatus("Available");

  const expected = [];
  for (let i = 1; i <= 10; i++) {
    const c = `Customer message ${i}: is order 10${i} on its way?`;
    if (i === 1) {
      // The customer types: Bo sees the indicator.
      await w.composer.pressSequentially("Hello the", { delay: 30 });
      await expectText(boDesk.typing, /Maria is typing/, { what: "Bo's desktop to show \"Maria is typing…\" while the customer types" });
    }
    await w.send(c, { enter: i % 2 === 0 });
    expected.push(c);
    await w.expectMsg(c, "customer");
    await boDesk.expectMsg(c, "customer");
    if (i === 1) await expectHidden(boDesk.typing, { timeout: 9000, what: "Bo's typing indicator to go once the message was sent" });

    const a = `Agent reply ${i}: order 10${i} left the depot.`;
    if (i === 1) {
      await boDesk.composer.pressSequentially("Let me ch", { delay: 30 });
      await expectText(w.typing, /Bo Chen is typing/, { what: "the widget to show \"Bo Chen is typing…\" while Bo types" });
    }
    await boDesk.send(a);
    expected.push(a);
    await boDesk.expectMsg(a, "agent");
    await w.expectMsg(a, "agent");
    if (i === 1) await expectHidden(w.typing, { timeout: 9000, what: "the widget's typing indicator to go once Bo's message arrived" });

    if (i === 5) {
      // The conversation survives a reload (the token is in localStorage).
      await cust.page.reload();
      await expectVisible(w.panel.or(w.launcher), { timeout: 15_000, what: "the widget after a reload" });
      if (!(await w.panel.isVisible())) await w.open();
      for (const t of expected) await w.expectMsg(t, t.startsWith("Customer") ? "customer" : "agent", { timeout: 15_000 });
      await expectText(w.agent, "Bo Chen", { what: "the widget to show Bo Chen after a reload" });
    }
  }
  assert.deepEqual(only(await w.texts(), expected), expected, "the widget shows the 20 messages in order");
  assert.deepEqual(only(await boDesk.texts(), expected), expected, "Bo's desktop shows the 20 messages in order");
  await expectIncreasingSeqs(w.msgs, "widget");
  await expectIncreasingSeqs(boDesk.msgs, "desktop");
  const cmids = await w.msgs.and(cust.page.locator("[data-role=customer]")).evaluateAll((els) => els.map((e) => e.getAttribute("data-cmid")));
  assert.ok(cmids.length >= 10 && cmids.every(Boolean) && new Set(cmids).size === cmids.length, `the customer's messages carry distinct data-cmid: ${JSON.stringify(cmids)}`);

  // Read ticks: the customer's reach "read" (Bo's pane shows them), and Bo's too.
  const custTicks = cust.page.locator("li[data-testid=sb-msg][data-role=customer] [data-testid=sb-tick]");
  await expectAtLeast(custTicks, 10, { what: "a tick on each of the customer's messages" });
  await expectCount(custTicks.and(cust.page.locator(":not([data-state=read])")), 0, { what: "every customer tick to reach data-state=read" });
  const boTicks = bo.page.locator("li[data-testid=msg][data-role=agent] [data-testid=tick]");
  await expectCount(boTicks, 10, { what: "a tick on each of Bo's 10 messages" });
  await expectCount(boTicks.and(bo.page.locator(":not([data-state=read])")), 0, { what: "every one of Bo's ticks to reach data-state=read" });

  // The desktop should fit its window, the conversation scrolling inside its pane; checked at
  // the end, so that the rest of the flow runs whatever this shows.
  const boLayout = await bo.page.evaluate(() => ({ height: document.scrollingElement.scrollHeight, window: innerHeight }));

  await cust.page.screenshot({ path: screenshotPath("widget.png") });
  await bo.page.evaluate(() => window.scrollTo(0, 0)); // the header, the lists and the side panel, should the page scroll
  await bo.page.screenshot({ path: screenshotPath("agent-desktop.png") });

  // A supervisor on hub A sees the live session and the agents, and joins silently.
  const sam = await env.browser.party("supervisor-sam");
  const samDesk = new Desk(sam.page, A.url);
  await samDesk.login(agents.sam, "/supervisor");
  await expectText(sam.page.locator("[data-testid=agent-row][data-agent=agent_bo]"), "1/5", { timeout: 15_000, what: "Bo's agent row to show load 1/5" });
  await expectText(sam.page.locator("[data-testid=agent-row][data-agent=agent_bo]"), /in-call/i, { what: "Bo's agent row to show In-call" });
  await expectText(sam.page.locator("[data-testid=agent-row][data-agent=agent_ana]"), /available/i, { what: "Ana's agent row to show Available" });
  await expectText(sam.page.locator("[data-testid=stat-active]"), exactly("1"), { what: "stat-active to be 1" });
  await expectText(sam.page.locator("[data-testid=stat-waiting]"), exactly("0"), { what: "stat-waiting to be 0" });
  const row = sam.page.locator(`[data-testid=session-row][data-session="${sid}"]`);
  await expectText(row, "Maria", { what: `the session row of ${sid} to show Maria` });
  await sam.page.screenshot({ path: screenshotPath("supervisor.png") });
  await sam.page.getByLabel("Search sessions", { exact: true }).fill("Maria");
  await expectVisible(row, { what: "the session row to stay when searching for Maria" });
  await row.getByRole("button", { name: "Join", exact: true }).click();
  await samDesk.expectMsg(expected.at(-1), "agent", { timeout: 15_000 });
  await samDesk.expectMsg(expected[0], "customer");

  // Bo transfers to Ana; Ana (hub A) gets the offer and accepts; the customer sees Ana.
  await boDesk.transferButton.click();
  const target = bo.page.getByLabel("Transfer to", { exact: true });
  await expectVisible(target, { what: 'the "Transfer to" select' });
  const opts = await target.locator("option").allTextContents();
  assert.ok(opts.some((o) => o.trim() === "Team: Billing"), `"Transfer to" lists teams as "Team: <name>": ${JSON.stringify(opts)}`);
  // Agents are listed by name (the page adds their status and load: "Ana Lima (Available, 0/5)").
  const anaOpt = target.locator("option").filter({ hasText: /^\s*Ana Lima\b/ });
  await expectCount(anaOpt, 1, { what: '"Transfer to" to offer Ana Lima' });
  await target.selectOption({ value: await anaOpt.getAttribute("value") });
  await bo.page.getByRole("button", { name: "Confirm transfer", exact: true }).click();
  const sid2 = await anaDesk.acceptOffer({ sessionId: sid, customerName: "Maria", timeout: 15_000 });
  assert.equal(sid2, sid);
  await expectText(w.agent, "Ana Lima", { what: "the widget to show Ana Lima after the transfer" });
  await expectCount(boDesk.sessionItem(sid), 0, { what: `Bo's "My sessions" to drop ${sid} after the transfer` });
  // Ana sees the history, and the chat goes on with her.
  await anaDesk.expectMsg(expected.at(-1), "agent", { timeout: 15_000 });
  await w.send("Thanks Ana, any news?");
  await anaDesk.expectMsg("Thanks Ana, any news?", "customer");
  await anaDesk.send("It arrives tomorrow morning.");
  await w.expectMsg("It arrives tomorrow morning.", "agent");

  // Ana closes; the customer sees the end and rates 5 with a comment.
  await anaDesk.closeButton.click();
  await expectText(w.notes, /ended/i, { timeout: 15_000, what: "a notice in the widget that the chat ended" });
  await expectVisible(w.rating, { what: 'the "Rate this conversation" group' });
  await w.rating.getByRole("button", { name: "5 stars", exact: true }).click();
  await cust.page.getByLabel("Comment", { exact: true }).fill("Quick and kind, thank you!");
  await cust.page.getByRole("button", { name: "Send rating", exact: true }).click();
  await expectText(w.rated, "Thanks for your feedback", { what: 'the widget to thank for the rating ("Thanks for your feedback")' });
  // The wording is the page's ("A customer rated the chat 5 of 5: …"): "rated", then the score.
  await expectText(anaDesk.toast, /rated\b.*\b5\b/, { timeout: 15_000, what: "Ana's desktop to show a toast that the customer rated 5" });

  // The supervisor's numbers follow: nothing active, one ended today, the rating.
  await expectText(sam.page.locator("[data-testid=stat-active]"), exactly("0"), { timeout: 20_000, what: "stat-active back to 0" });
  await expectText(sam.page.locator("[data-testid=stat-ended-today]"), exactly("1"), { timeout: 20_000, what: "stat-ended-today to be 1" });
  await expectText(sam.page.locator("[data-testid=stat-rating]"), /^\s*5(\.0+)?\b/, { timeout: 20_000, what: "stat-rating to show 5" });

  // The supervisor's join was silent: the customer never saw Sam.
  const notes = await w.notes.allTextContents();
  assert.ok(!notes.some((n) => /Sam/.test(n)), `the supervisor's join is silent: ${JSON.stringify(notes)}`);

  assert.ok(boLayout.height <= boLayout.window + 1,
    `with 20 messages the agent desktop should fit its ${boLayout.window}px window (the conversation scrolling in its pane), but the page is ${boLayout.height}px tall: the header, "Close chat" and "Transfer" scroll out of view`);
}, { timeout: 110_000 });
