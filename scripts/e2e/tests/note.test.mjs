// Private notes: Bo (hub B) writes a note in a chat with a customer (hub A);
// Bo's desktop shows it as a private note, staff's history has it, and
// the note's text never reaches the customer: not on the widget, not in any
// WebSocket frame the customer's page receives (recorded from the start),
// not after a reload of the widget.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectVisible, expectText } from "../lib/expect.mjs";

const env = new Env("note");
before(() => env.start());
after(() => env.teardown());

env.test("a private note reaches staff and never the customer's page or socket", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(agents.bo);

  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  const frames = []; // every frame the customer's page receives, from its first socket on
  cust.page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(String(f.payload))));
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  const sid = await establishChat(w, desk, { agentName: "Bo Chen" });

  const secret = "VIP customer: offer the refund quietly";
  await desk.page.getByTestId("note-toggle").check();
  await desk.composer.fill(secret);
  await desk.sendButton.click();
  const note = desk.page.locator("li[data-testid=private-note]", { hasText: secret });
  await expectVisible(note, { what: "Bo's desktop to show the private note" });
  await expectText(note.locator(".who"), /Private note/, { what: "the note to be marked as private" });

  // A message after it reaches the customer: the note's seq went by.
  await desk.page.getByTestId("note-toggle").uncheck();
  await desk.composer.fill("Your refund is on its way.");
  await desk.sendButton.click();
  await expectVisible(w.msg("Your refund is on its way."), { what: "the customer to get the message after the note" });

  // Staff's history has it (the admin key reads as staff).
  const hist = await env.cluster.must("GET", `/api/v1/sessions/${sid}/messages?after=0`, { hub: 0 });
  assert.ok(hist.events.some((e) => e.type === "note.created" && e.message.text === secret), "staff's history has the note");

  // Reload the widget: the replay does not bring it either.
  await cust.page.reload();
  await expectVisible(w.panel.or(w.launcher), { timeout: 15_000, what: "the widget after a reload" });
  if (!(await w.panel.isVisible())) await w.open();
  await expectVisible(w.msg("Your refund is on its way."), { what: "the reloaded widget to show the conversation" });

  const leaked = frames.filter((f) => f.includes(secret) || f.includes('"note.created"'));
  assert.deepEqual(leaked, [], "no frame the customer's page received carries the note");
  const hidden = frames.filter((f) => f.includes('"type":"hidden"'));
  assert.ok(hidden.length >= 1, `the customer's page got the note's seq as a hidden placeholder: ${frames.length} frames`);
  assert.equal(await cust.page.getByText(secret).count(), 0, "the widget never shows the note");
});

env.test("tags: Bo tags a chat in the customer panel; a supervisor finds it with #tag; the customer's page never sees the tag", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const bo = await env.browser.party("agent-bo-tags");
  const desk = new Desk(bo.page, B.url);
  await desk.login(agents.bo);
  const cust = await env.browser.party("customer-tags", { viewport: { width: 420, height: 760 } });
  const frames = [];
  cust.page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(String(f.payload))));
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  const sid = await establishChat(w, desk, { name: "Tomas", agentName: "Bo Chen" });

  const input = desk.page.getByLabel("Add a tag", { exact: true });
  await input.fill("Refund-Requested");
  await input.press("Enter");
  await expectText(desk.page.locator("[data-testid=tag-editor] [data-testid=tag]"), "#refund-requested", { what: "the tag chip in Bo's customer panel" });

  const sam = await env.browser.party("supervisor-sam-tags");
  const sup = new Desk(sam.page, A.url);
  await sup.login(agents.sam, "/supervisor");
  await sam.page.getByLabel("Search sessions", { exact: true }).fill("#refund-requested");
  const row = sam.page.locator(`[data-testid=session-row][data-session="${sid}"]`);
  await expectVisible(row, { what: "the tagged session in the supervisor's #tag list" });
  await expectText(row.locator("[data-testid=session-tags]"), "#refund-requested", { what: "the row's tags" });

  await desk.send("Thanks, Tomas.");
  await expectVisible(w.msg("Thanks, Tomas."), { what: "the customer to get the message after the tag" });
  assert.deepEqual(frames.filter((f) => f.includes("refund-requested") || f.includes('"session.tags"')), [],
    "no frame the customer's page received carries the tag");
});
