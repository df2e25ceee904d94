// Message text is text: markup sent either way shows literally on both
// sides, creates no element and runs no script; new lines and non-ASCII
// text come through as written.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectCount, expectAttr, expectText } from "../lib/expect.mjs";

const env = new Env("xss");
before(() => env.start());
after(() => env.teardown());

const PAYLOAD = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>`;

/** The textContent of the message elements (li) matched, via their text child. */
const textsOf = (locator, textSel) => locator.locator(textSel).evaluateAll((els) => els.map((e) => e.textContent));

env.test("markup in messages shows as text on both sides and runs nothing", async () => {
  const [A, B] = env.hubs;
  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(env.seeded.agents.bo);
  await desk.setStatus("Available");
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  // The customer's name is markup too: the offer, the list and the side panel must show it as text.
  const evilName = `<i>Mallory</i><img src=x onerror="window.__pwned=3">`;
  await establishChat(w, desk, { name: evilName, question: `<b>help</b>`, agentName: "Bo Chen" });

  // Customer to agent, then agent to customer, the same text.
  await w.send(PAYLOAD);
  await expectCount(w.msg(PAYLOAD), 1, { what: "the widget to show the payload once" });
  await expectCount(desk.msg(PAYLOAD), 1, { what: "the desktop to show the payload once" });
  await desk.send(PAYLOAD);
  await expectCount(w.msg(PAYLOAD), 2, { what: "the widget to show the payload twice (each way)" });
  await expectCount(desk.msg(PAYLOAD), 2, { what: "the desktop to show the payload twice (each way)" });
  await expectAttr(w.msg(PAYLOAD).first(), "data-role", "customer");
  await expectAttr(w.msg(PAYLOAD).last(), "data-role", "agent");

  assert.deepEqual(await textsOf(w.msg(PAYLOAD), ".sb-text"), [PAYLOAD, PAYLOAD], "the widget's .sb-text textContent is the payload");
  assert.deepEqual(await textsOf(desk.msg(PAYLOAD), ".text"), [PAYLOAD, PAYLOAD], "the desktop's .text textContent is the payload");

  // No element from the payload anywhere in either conversation or the desktop.
  for (const [who, page, log] of [["widget", cust.page, w.log], ["desktop", bo.page, desk.log]]) {
    const made = await log.evaluate((el) => [...el.querySelectorAll("img, script, b")]
      .filter((e) => e.getAttribute("src") === "x" || /__pwned/.test(e.textContent) || e.textContent === "bold" || e.textContent === "help")
      .map((e) => e.outerHTML));
    assert.deepEqual(made, [], `${who}: the conversation holds no <img>, <script> or <b> made from a message`);
    assert.equal(await page.locator('img[src=x], i:text-is("Mallory")').count(), 0, `${who}: no <img src=x> or <i>Mallory</i> anywhere on the page`);
  }
  // The name shows literally on the desktop.
  assert.equal((await desk.customerName.textContent()).trim(), evilName, "the side panel shows the customer's name as text");

  // New lines and non-ASCII text come through as written (Shift+Enter is a new line in the widget).
  await w.composer.fill("");
  await w.composer.pressSequentially("line one");
  await w.composer.press("Shift+Enter");
  await w.composer.pressSequentially("line two — Grüße 👋 你好");
  await w.composer.press("Enter");
  const multi = "line one\nline two — Grüße 👋 你好";
  await expectCount(desk.msgs.filter({ hasText: "line two" }), 1, { what: "the desktop to show the two-line message" });
  assert.deepEqual(await textsOf(desk.msgs.filter({ hasText: "line two" }), ".text"), [multi], "the desktop shows both lines, as written");
  assert.deepEqual(await textsOf(w.msgs.filter({ hasText: "line two" }), ".sb-text"), [multi], "the widget shows both lines, as written");

  for (const [who, page] of [["customer", cust.page], ["agent", bo.page]]) {
    assert.equal(await page.evaluate(() => typeof window.__pwned), "undefined", `window.__pwned is undefined on the ${who}'s page`);
  }

  // The customer gave no e-mail: the panel shows none (and no "null" or "undefined" in its place).
  const side = bo.page.getByRole("complementary", { name: "Customer", exact: true });
  await expectText(side, "Past sessions", { what: "the Customer side panel" });
  const sideText = await side.textContent();
  assert.doesNotMatch(sideText, /null|undefined|NaN/, `the Customer panel shows no placeholder of a missing value: ${JSON.stringify(sideText)}`);
});
