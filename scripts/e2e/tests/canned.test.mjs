// Canned replies: the admin key makes a shared reply; Bo (hub B) types
// "/gre" in a chat with a customer (hub A), the picker shows it, Enter
// inserts it with the customer's and Bo's names filled in, and the
// customer's widget shows the sent text. It writes
// docs/screenshots/canned-picker.png. Then Bo adds a personal reply in
// "My replies…", picks it with the mouse from the Canned button's
// search, and deletes it.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectCount, expectHidden, expectVisible } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("canned");
before(() => env.start());
after(() => env.teardown());

env.test("Bo inserts a shared canned reply with /shortcut (names filled in, the customer gets it), then adds, picks and deletes a personal one", async () => {
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
  await expectCount(bo.page.locator("[data-testid=canned-item]"), 1, { what: "only /greet to match /gre" });
  await bo.page.screenshot({ path: screenshotPath("canned-picker.png") });
  await desk.composer.press("Enter");
  const text = "Hello Maria, I am Bo Chen. How can I help?";
  assert.equal(await desk.composer.inputValue(), text, "the reply is inserted with the names filled in");
  await desk.sendButton.click();
  await expectVisible(w.msg(text), { what: "the customer to get the canned reply" });

  // A personal reply: made in "My replies…", found through the Canned
  // button's search, picked with the mouse, then deleted.
  await bo.page.getByRole("button", { name: "Canned", exact: true }).click();
  await bo.page.locator("[data-testid=canned-manage]").click();
  const dialog = bo.page.getByRole("dialog", { name: "My canned replies" });
  await expectVisible(dialog, { what: "the My canned replies dialog" });
  await dialog.getByLabel("Title").fill("Thanks");
  await dialog.getByLabel("Text").fill("Thanks {{customer.name}}, anything else?");
  await dialog.getByLabel("Shortcut").fill("thanks");
  await dialog.getByRole("button", { name: "Add reply" }).click();
  await expectVisible(dialog.locator("[data-testid=canned-mine][data-shortcut=thanks]"), { what: "/thanks in Bo's list" });
  await dialog.getByLabel("Shortcut").fill("thanks");
  await dialog.getByLabel("Title").fill("Again");
  await dialog.getByLabel("Text").fill("x");
  await dialog.getByRole("button", { name: "Add reply" }).click();
  await expectVisible(dialog.getByRole("alert").filter({ hasText: "shortcut already in use" }), { what: "a duplicate shortcut refused" });
  await dialog.getByRole("button", { name: "Close", exact: true }).click();
  await expectHidden(dialog, { what: "the dialog to close" });

  await bo.page.getByRole("button", { name: "Canned", exact: true }).click();
  await bo.page.getByLabel("Search canned replies").fill("anything");
  const mine = bo.page.locator("[data-testid=canned-item][data-shortcut=thanks]");
  await expectVisible(mine, { what: "the search to find /thanks by its text" });
  await expectCount(bo.page.locator("[data-testid=canned-item]"), 1, { what: "only /thanks to match" });
  await mine.click();
  await expectHidden(bo.page.locator("[data-testid=canned-picker]"), { what: "the picker to close on a pick" });
  assert.equal(await desk.composer.inputValue(), "Thanks Maria, anything else?");
  await desk.sendButton.click();
  await expectVisible(w.msg("Thanks Maria, anything else?"), { what: "the customer to get the personal reply" });

  await bo.page.getByRole("button", { name: "Canned", exact: true }).click();
  await bo.page.locator("[data-testid=canned-manage]").click();
  await dialog.getByRole("button", { name: "Delete /thanks" }).click();
  await expectCount(dialog.locator("[data-testid=canned-mine]"), 0, { what: "/thanks deleted" });
  await dialog.getByRole("button", { name: "Close", exact: true }).click();
  await desk.composer.fill("");
  await desk.composer.pressSequentially("/tha");
  await expectVisible(bo.page.locator("[data-testid=canned-picker]").getByText("No canned reply matches"), { what: "/thanks gone from the picker" });
  await desk.composer.press("Escape");
  await expectHidden(bo.page.locator("[data-testid=canned-picker]"), { what: "Escape to close the picker" });
});
