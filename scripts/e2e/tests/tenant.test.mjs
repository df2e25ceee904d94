// Tenants: one deployment serving two contact centers. Tenant acme is
// created through the operator API, with an agent of its own; the shop's
// widget tag says data-tenant="acme", and acme's agent signs in on
// /agent?tenant=acme (on the other instance). The chat runs between them
// while Bo, of the default tenant, waits Available and is offered nothing;
// the Customer Service API lists the session under acme's key and not
// under the default tenant's.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk } from "../lib/pages.mjs";
import { expectVisible, expectText, expectCount } from "../lib/expect.mjs";

const env = new Env("tenant");
before(() => env.start());
after(() => env.teardown());

const ACME_AGENT = { id: "agent_kim", name: "Kim Acme", email: "kim@acme.test", password: "correct-horse-9" };

/** Records the URLs of a page's requests and WebSockets to hubUrl. */
function recordHubTraffic(page, hubUrl) {
  const urls = [];
  const wsBase = hubUrl.replace(/^http/, "ws");
  page.on("request", (r) => { if (r.url().startsWith(hubUrl + "/api/")) urls.push(r.url()); });
  page.on("websocket", (ws) => { if (ws.url().startsWith(wsBase + "/ws")) urls.push(ws.url()); });
  return urls;
}

/** The session ids a Customer Service list answer holds. */
function csSessionIds(body, what) {
  assert.equal(body?.code, 0, `${what}: the envelope's code is 0: ${JSON.stringify(body)}`);
  assert.ok(Array.isArray(body.data?.sessions), `${what}: data.sessions is a list: ${JSON.stringify(body)}`);
  return body.data.sessions.map((s) => s.id);
}

env.test("tenant acme: its widget and its agent chat; the session is acme's, not the default tenant's", async () => {
  const [A, B] = env.hubs;
  const { agents } = env.seeded;

  // The operator creates acme; acme's admin key creates acme's agent.
  const acme = await env.cluster.createTenant("acme", { name: "Acme" });
  assert.equal(acme.id, "acme");
  assert.match(acme.admin_key || "", /^sk_/, `the new tenant's admin_key is shown: ${JSON.stringify(acme)}`);
  await env.cluster.must("POST", "/api/v1/agents?tenant=acme", { auth: acme.admin_key, body: ACME_AGENT });

  // Bo, of the default tenant, on hub A and Available: acme's customer must not reach him.
  const bo = await env.browser.party("agent-bo");
  const boDesk = new Desk(bo.page, A.url);
  await boDesk.login(agents.bo);
  await boDesk.setStatus("Available");

  // The customer, on the shop whose widget tag says data-tenant="acme"; nobody of acme is online yet.
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  const custTraffic = recordHubTraffic(cust.page, A.url);
  await cust.page.goto(env.shop.pageUrl(A.url, { tenant: "acme", offline: "never" })); // queue, not the offline form
  const w = new Widget(cust.page);
  await w.open();
  await w.startChat({ name: "Maria", question: "Do the trail shoes run small?" });
  await expectText(w.queue, /number 1 in the queue/i, { timeout: 15_000, what: "acme's customer to wait in acme's queue (no acme agent online)" });
  const hello = "Hello Acme, I wear a 42 in most brands.";
  await w.send(hello);
  await w.expectMsg(hello, "customer");

  // Acme's credentials do not sign in on the default tenant's desktop…
  const kim = await env.browser.party("agent-acme");
  await kim.page.goto(B.url + "/agent");
  await kim.page.getByLabel("Email", { exact: true }).fill(ACME_AGENT.email);
  await kim.page.getByLabel("Password", { exact: true }).fill(ACME_AGENT.password);
  await kim.page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expectVisible(kim.page.getByRole("alert"), { what: "an error when acme's agent signs in on /agent (the default tenant)" });

  // …but do on /agent?tenant=acme, on hub B; Kim takes the chat and answers.
  const kimTraffic = recordHubTraffic(kim.page, B.url);
  const kimDesk = new Desk(kim.page, B.url);
  await kimDesk.login(ACME_AGENT, "/agent?tenant=acme");
  await kimDesk.setStatus("Available");
  const sid = await kimDesk.acceptOffer({ customerName: "Maria" });
  await kimDesk.sessionItem(sid).click(); // open it, should the desktop not have opened it itself
  await expectText(w.agent, ACME_AGENT.name, { what: `the widget to show acme's agent ${ACME_AGENT.name}` });
  await kimDesk.expectMsg(hello, "customer");
  const reply = "Hi Maria, they run true to size: take a 42.";
  await kimDesk.send(reply);
  await kimDesk.expectMsg(reply, "agent");
  await w.expectMsg(reply, "agent");

  // Bo, Available all along on the default tenant, was offered nothing and has no session.
  await expectCount(boDesk.offers, 0, { what: "no offer on the default tenant's agent Bo" });
  await expectCount(boDesk.sessionItems, 0, { what: `no session in Bo's "My sessions"` });

  // Every call of the widget and of acme's desktop named the tenant.
  for (const [who, urls] of [["the widget", custTraffic], ["acme's desktop", kimTraffic]]) {
    assert.ok(urls.some((u) => /^ws:.*\/ws\?/.test(u)), `${who} opened a WebSocket to the hub: ${JSON.stringify(urls)}`);
    const bare = urls.filter((u) => new URL(u).searchParams.get("tenant") !== "acme");
    assert.deepEqual(bare, [], `every call of ${who} to the hub carries tenant=acme`);
  }
  // The conversation is saved under a key of acme's.
  const keys = await cust.page.evaluate(() => Object.keys(localStorage));
  assert.ok(keys.some((k) => k.startsWith("switchboard:") && k.includes("acme")), `the widget's saved conversation is kept per tenant: ${JSON.stringify(keys)}`);

  // The Customer Service API: acme's key lists the session; the default tenant's does not.
  const inAcme = csSessionIds(await env.cluster.must("GET", "/customer-service/sessions?tenant=acme", { auth: acme.admin_key }), "acme's list");
  assert.ok(inAcme.includes(sid), `acme's sessions list ${sid}: ${JSON.stringify(inAcme)}`);
  const inDefault = csSessionIds(await env.cluster.must("GET", "/customer-service/sessions"), "the default tenant's list");
  assert.ok(!inDefault.includes(sid), `the default tenant's sessions do not list ${sid}: ${JSON.stringify(inDefault)}`);
  // Naming acme with the default tenant's key grants nothing.
  const foreign = await env.cluster.api("GET", "/customer-service/sessions?tenant=acme");
  assert.equal(foreign.status, 401, `the default admin key is refused on acme: ${foreign.status} ${JSON.stringify(foreign.body)}`);
});
