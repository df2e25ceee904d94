// Smoke: the harness itself (two hubs on one redis, seeding, the load
// balancer's fall-through and cut), then the pages: /, /agent, /supervisor
// and /widget.js answer 200, the pages carry a Content-Security-Policy, and
// the demo page shows the widget launcher and the links to the other pages.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { AGENTS } from "../lib/cluster.mjs";
import { sparePort, fetchT } from "../lib/util.mjs";
import { startLB } from "../lib/lb.mjs";
import { expectVisible, expectText } from "../lib/expect.mjs";
import { Desk } from "../lib/pages.mjs";

const env = new Env("smoke");
before(() => env.start());
after(() => env.teardown());

env.test("harness: two hubs share one redis; the LB falls through and cuts", async () => {
  const { cluster } = env;
  for (const h of cluster.hubs) {
    const r = await fetchT(`${h.url}/readyz`);
    assert.equal(r.status, 200, `${h.url}/readyz`);
  }
  // Seeded through hub A, readable and usable through hub B.
  const list = await cluster.must("GET", "/api/v1/agents", { hub: 1 });
  const ids = list.agents.map((a) => a.id).sort();
  assert.deepEqual(ids, ["agent_ana", "agent_bo", "agent_sam"]);
  const login = await cluster.must("POST", "/api/v1/auth/login", { hub: 1, auth: null, body: { email: AGENTS.bo.email, password: AGENTS.bo.password } });
  assert.match(login.token, /^v1\./);
  assert.equal(login.agent.name, "Bo Chen");

  // A dead first upstream: the LB falls through to hub B.
  const dead = await sparePort();
  const lb = await startLB([dead, cluster.hubs[1].port]);
  env.lbs.push(lb);
  const r1 = await fetchT(`${lb.url}/healthz`);
  assert.equal(r1.status, 200);
  assert.match(lb.log.at(-1), new RegExp(`-> ${cluster.hubs[1].port}$`));
  // cut(): nothing gets through until restore().
  lb.cut();
  await assert.rejects(fetchT(`${lb.url}/healthz`, { headers: { Connection: "close" } }, 3000));
  lb.restore();
  const r2 = await fetchT(`${lb.url}/healthz`, { headers: { Connection: "close" } });
  assert.equal(r2.status, 200);
});

env.test("the pages and the widget script answer 200 with a Content-Security-Policy", async () => {
  for (const h of env.hubs) {
    for (const p of ["/", "/agent", "/supervisor"]) {
      const r = await fetchT(h.url + p);
      assert.equal(r.status, 200, `GET ${h.url}${p}`);
      assert.match(r.headers.get("content-type") || "", /text\/html/, `GET ${p} content-type`);
      const csp = r.headers.get("content-security-policy");
      assert.ok(csp, `GET ${p} has a Content-Security-Policy header`);
      assert.match(csp, /default-src|script-src/, `GET ${p} CSP restricts scripts: ${csp}`);
    }
    const w = await fetchT(h.url + "/widget.js");
    assert.equal(w.status, 200, "GET /widget.js");
    assert.match(w.headers.get("content-type") || "", /javascript/, "GET /widget.js content-type");
    const body = await w.text();
    assert.ok(body.length > 500, "widget.js has a body");
  }
});

env.test("the demo page shows the widget launcher and links to the desktop and the supervisor view", async () => {
  const { page } = await env.browser.party("demo");
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const hub = env.hubs[0].url;
  await page.goto(hub + "/");
  await expectVisible(page.getByRole("button", { name: "Open chat", exact: true }), { timeout: 15_000, what: 'the widget launcher "Open chat" on the demo page' });
  const agentLink = page.getByRole("link", { name: "Agent desktop" }).first();
  const supLink = page.getByRole("link", { name: "Supervisor view" }).first();
  await expectVisible(agentLink, { what: 'a link "Agent desktop"' });
  await expectVisible(supLink, { what: 'a link "Supervisor view"' });
  assert.equal(new URL(await agentLink.getAttribute("href"), hub + "/").pathname, "/agent");
  assert.equal(new URL(await supLink.getAttribute("href"), hub + "/").pathname, "/supervisor");
  // The widget is a <switchboard-widget> with an open shadow root.
  const shadow = await page.evaluate(() => !!document.querySelector("switchboard-widget")?.shadowRoot);
  assert.ok(shadow, "the demo page has a <switchboard-widget> with an open shadow root");
  assert.deepEqual(errors, [], "no uncaught errors on the demo page");
});

// The desk opens its socket only once it listens: with its REST calls slow,
// the frames that come first (the agent's status) still reach the page.
// (It once connected before an awaited fetch, and lost them.)
env.test("a slow REST call does not make the desk miss its first frames", async () => {
  const p = await env.browser.party("agent-sam-slow");
  await p.page.route("**/api/v1/statuses", async (route) => {
    await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  const desk = new Desk(p.page, env.hubs[0].url);
  await desk.login(env.seeded.agents.sam);
  await expectText(desk.myStatus, /Available/, { what: "the status the hub sent on connect" });
});
