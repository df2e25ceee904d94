// The supervisor view with a customer waiting: the numbers and the queue
// show the customer, and a supervisor who only watches (/supervisor, which
// has no Accept) is not the one the customer is offered to: when Bo
// becomes Available the offer goes to him at once, not after the 30 s
// offer timeout of an offer nobody can see.
import { before, after } from "node:test";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectText, expectVisible, exactly } from "../lib/expect.mjs";

const env = new Env("supervisor");
before(() => env.start());
after(() => env.teardown());

env.test("a waiting customer shows on /supervisor and is offered to an agent, not to the watching supervisor", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;
  const sam = await env.browser.party("supervisor-sam");
  const samDesk = new Desk(sam.page, B.url);
  await samDesk.login(agents.sam, "/supervisor");
  const bo = await env.browser.party("agent-bo");
  const boDesk = new Desk(bo.page, A.url);
  await boDesk.login(agents.bo);
  await boDesk.setStatus("lunch");
  await expectText(sam.page.locator("[data-testid=agent-row][data-agent=agent_bo]"), /lunch/i, { timeout: 15_000, what: "Bo's row on /supervisor to show lunch" });

  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url, { offline: "never" })); // nobody Available yet: it queues
  const w = new Widget(cust.page);
  await w.open();
  await w.startChat({ name: "Maria", question: "Where is my parcel?" });
  const queued = async (what) => {
    try {
      await expectText(w.queue, /number 1 in the queue/i, { timeout: 10_000, what });
    } catch (err) {
      const s = (await env.cluster.sessions())[0];
      err.message += `\n  the session is ${s?.state}${s?.agent_name ? ", with " + s.agent_name : ""}`;
      throw err;
    }
  };
  await queued('the customer to wait "number 1 in the queue" (nobody who can accept is Available)');

  // The supervisor sees the customer waiting.
  await expectText(sam.page.locator("[data-testid=stat-waiting]"), exactly("1"), { timeout: 15_000, what: "stat-waiting to be 1" });
  await expectText(sam.page.locator("[data-testid=queue-row]"), "Maria", { timeout: 15_000, what: "a queue row with Maria" });
  await expectText(sam.page.locator("[data-testid=stat-longest-wait]"), /\d/, { timeout: 15_000, what: "stat-longest-wait to show a time" });

  // Bo becomes Available: the offer reaches him at once.
  await boDesk.setStatus("Available");
  try {
    await expectVisible(boDesk.offer(), { timeout: 10_000, what: "Bo's offer within 10 s of becoming Available" });
  } catch (err) {
    const s = (await env.cluster.sessions())[0];
    err.message += `\n  the session is ${s?.state}${s?.agent_name ? ", offered to / with " + s.agent_name : ""}`;
    throw err;
  }
  const sid = await boDesk.acceptOffer({ customerName: "Maria" });
  await expectText(w.agent, "Bo Chen", { what: "the widget to show Bo Chen" });
  await expectText(sam.page.locator(`[data-testid=session-row][data-session="${sid}"]`), "Bo Chen", { timeout: 15_000, what: "the session row to show Bo Chen" });
  await expectText(sam.page.locator("[data-testid=stat-waiting]"), exactly("0"), { timeout: 15_000, what: "stat-waiting back to 0" });
});
