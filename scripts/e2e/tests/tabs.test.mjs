// Several tabs of one agent: Bo has the desktop open twice, one tab on each
// instance. A status chosen in one shows in the other; an offer shows in
// both and goes from both once accepted; a session's unread count is the
// same in both, and reading it in one clears it in the other (read markers
// are the agent's, not the tab's). The customer's ticks tell delivered
// (Bo's desktops have the messages) from read (Bo opened the chat).
import { before, after } from "node:test";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectAttr, expectHidden, expectText, expectVisible } from "../lib/expect.mjs";

const env = new Env("tabs");
before(() => env.start());
after(() => env.teardown());

env.test("two tabs of one agent agree on status, offers, unread counts and read markers", async () => {
  const [A, B] = env.hubs;
  const bo = env.seeded.agents.bo;
  const p1 = await env.browser.party("bo-tab1");
  const tab1 = new Desk(p1.page, A.url);
  await tab1.login(bo);
  const p2 = await env.browser.party("bo-tab2");
  const tab2 = new Desk(p2.page, B.url);
  await tab2.login(bo);

  // A status chosen in one tab shows in the other.
  await tab1.setStatus("lunch");
  await expectText(tab2.myStatus, /lunch/i, { what: "tab 2 to show the status chosen in tab 1" });
  await tab2.setStatus("Available");
  await expectText(tab1.myStatus, /Available/, { what: "tab 1 to show the status chosen in tab 2" });

  // Two customers; each offer shows in both tabs, and accepting it in tab 1
  // takes it from both. Tab 1 then has the second one open.
  const widgets = [];
  const sids = [];
  for (const [i, name] of ["Maria", "Jonas"].entries()) {
    const c = await env.browser.party(`customer-${name}`, { viewport: { width: 420, height: 760 } });
    await c.page.goto(env.shop.pageUrl(i === 0 ? A.url : B.url));
    const w = new Widget(c.page);
    await w.open();
    await w.startChat({ name, question: `Question from ${name}` });
    widgets.push(w);
    await expectVisible(tab2.offer(), { timeout: 15_000, what: `${name}'s offer in tab 2` });
    const sid = await tab1.acceptOffer({ customerName: name });
    await expectHidden(tab2.offer(sid), { what: `${name}'s offer to leave tab 2 once accepted in tab 1` });
    await expectVisible(tab2.sessionItem(sid), { what: `${name}'s session in tab 2's "My sessions"` });
    await expectText(widgets[i].agent, bo.name, { what: `${name}'s widget to show ${bo.name}` });
    sids.push(sid);
  }

  // Maria writes while neither tab has her chat open: both tabs count two
  // unread, and her ticks say delivered, not read.
  const [maria] = widgets;
  await maria.send("Is my parcel lost?");
  await maria.send("It is order 1042.");
  for (const [name, tab] of [["tab 1", tab1], ["tab 2", tab2]]) {
    await expectText(tab.sessionItem(sids[0]).locator("[data-testid=unread]"), "2", { what: `${name} to count Maria's two unread messages` });
  }
  const tick = maria.msg("It is order 1042.").locator("[data-testid=sb-tick]");
  await expectAttr(tick, "data-state", "delivered", { what: "Maria's tick to say delivered while Bo has not opened her chat" });

  // Bo opens Maria's chat in tab 2: tab 1's count clears too, and Maria sees read.
  await tab2.sessionItem(sids[0]).getByRole("button").click();
  await tab2.expectMsg("It is order 1042.", "customer");
  await expectHidden(tab1.sessionItem(sids[0]).locator("[data-testid=unread]"), { what: "tab 1's unread count to clear when Bo read in tab 2" });
  await expectAttr(tick, "data-state", "read", { what: "Maria's tick to say read once Bo opened her chat" });

  // A reply from tab 2 shows in tab 1's copy of the conversation too.
  await tab2.send("Let me check, Maria.");
  await maria.expectMsg("Let me check, Maria.", "agent");
  await tab1.sessionItem(sids[0]).getByRole("button").click();
  await tab1.expectMsg("Let me check, Maria.", "agent");
});
