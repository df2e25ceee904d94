// Offers: with Bo (hub A) and Ana (hub B) both Available, a new customer
// is offered to one of them; that one declines, and the offer goes to the
// other, who accepts; the customer sees who joined.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectVisible, expectHidden, expectText } from "../lib/expect.mjs";

const env = new Env("offer");
before(() => env.start());
after(() => env.teardown());

env.test("a declined offer goes to the next available agent", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const desks = {};
  for (const [key, hub] of [["bo", A], ["ana", B]]) {
    const p = await env.browser.party(`agent-${key}`);
    desks[key] = new Desk(p.page, hub.url);
    await desks[key].login(agents[key]);
    await desks[key].setStatus("Available");
  }

  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  await w.open();
  await w.startChat({ name: "Maria", question: "Can I change my order?" });

  // Whoever gets it first declines.
  const first = await Promise.any(Object.entries(desks).map(async ([key, d]) => {
    await expectVisible(d.offer(), { timeout: 15_000, what: `an offer on ${key}'s desktop` });
    return key;
  })).catch((e) => { throw new Error(`no desktop got the offer: ${e.errors?.map((x) => x.message).join("; ")}`); });
  const second = first === "bo" ? "ana" : "bo";
  const offer = desks[first].offer();
  const sid = await offer.getAttribute("data-session");
  await expectText(offer, "Maria", { what: "the offer to name the customer" });
  await expectText(offer.locator("[data-testid=offer-countdown]"), /\d/, { what: "the offer's countdown" });
  await offer.getByRole("button", { name: "Decline", exact: true }).click();
  await expectHidden(desks[first].offer(sid), { what: `the offer to leave ${first}'s desktop once declined` });

  // The other one gets it, and accepts.
  const sid2 = await desks[second].acceptOffer({ sessionId: sid, customerName: "Maria" });
  assert.equal(sid2, sid);
  await expectText(w.agent, agents[second].name, { what: `the widget to show ${agents[second].name}` });
  await w.send("Can I switch to the blue one?");
  await desks[second].expectMsg("Can I switch to the blue one?", "customer");
  // The decliner never had it in "My sessions".
  assert.equal(await desks[first].sessionItem(sid).count(), 0, `${first}'s "My sessions" does not list the declined session`);
});
