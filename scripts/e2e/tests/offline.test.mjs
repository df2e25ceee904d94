// Offline messages: with nobody signed in, the widget's form becomes the
// offline form (an e-mail and a message, required); the customer is told
// how the answer comes; Bo signs in on the other hub, finds the message in
// "Offline messages", picks it, and answers while the customer is still on
// the page.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectVisible, expectText } from "../lib/expect.mjs";

const env = new Env("offline");
before(() => env.start());
after(() => env.teardown());

env.test("nobody signed in: the widget takes an offline message, and Bo picks it up later", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  await w.open();
  await expectText(cust.page.locator("[data-testid=sb-greeting]"), /Nobody can answer right now/, { what: "the offline form's greeting" });
  await cust.page.getByLabel("Name", { exact: true }).fill("Maria");
  await cust.page.getByLabel("Email (we answer there)", { exact: true }).fill("maria@example.com");
  await cust.page.getByLabel("Your message", { exact: true }).fill("My parcel 1042 never came");
  await cust.page.getByRole("button", { name: "Send message", exact: true }).click();
  await expectVisible(w.notes.filter({ hasText: "We will answer by e-mail at maria@example.com" }), { what: "the widget to say how the answer comes" });

  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(agents.bo);
  const item = bo.page.locator("[data-testid=offline-message]", { hasText: "My parcel 1042 never came" });
  await expectVisible(item, { what: "the message in Bo's Offline messages" });
  const sid = await item.getAttribute("data-session");
  await item.getByRole("button", { name: "Pick", exact: true }).click();
  await expectText(w.agent, "Bo Chen", { what: "the widget to show Bo Chen once he picked the message" });
  await expectVisible(desk.sessionItem(sid), { what: "the picked session in Bo's sessions" });
  await desk.sessionItem(sid).click();
  await desk.send("Hello Maria, let me check 1042.");
  await expectVisible(w.msg("Hello Maria, let me check 1042."), { what: "Bo's answer in the widget" });
  const left = await env.cluster.must("GET", "/api/v1/offline-messages", { hub: 0 });
  assert.equal(left.total, 0, "the offline list is empty once Bo picked the message");
});
