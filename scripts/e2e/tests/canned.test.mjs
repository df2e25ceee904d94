// Canned replies: the admin key makes a shared reply; Bo (hub B) types
// "/gre" in a chat with a customer (hub A), the picker shows it, Enter
// inserts it with the customer's and Bo's names filled in, and the
// customer's widget shows the sent text. It writes
// docs/screenshots/canned-picker.png.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectVisible } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("canned");
before(() => env.start());
after(() => env.teardown());

env.test("Bo inserts a shared canned reply with /shortcut; placeholders filled; the customer gets it", async () => {
  const [A, B] = env.hubs;
  await env.cluster.must("POST", "/api/v1/canned-replies", { hub: 0, body: { scope: "shared", shortcut: "greet", title: "Greeting",
    text: "Hello {{customer.name}}, I am {{agent.name}}. How can I help?" } });
  await env.cluster.must("POST", "/api/v1/canned-replies", { hub: 0, body: { scope: "shared", shortcut: "refund", title: "Refund policy",
    text: "Refunds reach your card within 5 working days." } });
  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(env.seeded.agents.bo);
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  await establishChat(w, desk, { name: "Maria", agentName: "Bo Chen" });

  await desk.composer.fill("");
  await desk.composer.pressSequentially("/gre");
  const item = bo.page.locator("[data-testid=canned-item][data-shortcut=greet]");
  await expectVisible(item, { what: "the canned-reply picker to offer /greet" });
  assert.equal(await bo.page.locator("[data-testid=canned-item]").count(), 1, "only /greet matches /gre");
  await bo.page.screenshot({ path: screenshotPath("canned-picker.png") });
  await desk.composer.press("Enter");
  const text = "Hello Maria, I am Bo Chen. How can I help?";
  assert.equal(await desk.composer.inputValue(), text, "the reply is inserted with the names filled in");
  await desk.sendButton.click();
  await expectVisible(w.msg(text), { what: "the customer to get the canned reply" });
});
