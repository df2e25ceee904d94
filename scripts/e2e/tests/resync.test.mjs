// A Redis that comes back older: the store "rolls back" under an open chat
// (the session's last two messages and what followed are gone, its seq is
// back, and the store has a new epoch, as after a restart from an older
// snapshot), then both write again, reusing seqs the pages have seen; the
// agent's draft survives the rebuild.
// Both pages must notice (resync) and show exactly what the store holds:
// the messages before the rollback and the new ones, never the rolled-back
// ones, and nothing skipped as "already seen".
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectCount } from "../lib/expect.mjs";
import { until } from "../lib/util.mjs";

const env = new Env("resync");
let desk;

before(async () => {
  await env.start();
  const bo = await env.browser.party("agent-bo");
  desk = new Desk(bo.page, env.hubs[1].url);
  await desk.login(env.seeded.agents.bo);
  await desk.setStatus("Available");
});
after(() => env.teardown());

// rollBack makes the session look as a Redis restored from a copy taken
// just before its event `keep + 1` does: the stream cut there, the seq
// back, a new store epoch.
const ROLLBACK = `
local entries = redis.call('XRANGE', KEYS[1], '-', ARGV[1] .. '-0')
redis.call('DEL', KEYS[1])
for _, e in ipairs(entries) do redis.call('XADD', KEYS[1], e[1], unpack(e[2])) end
redis.call('HSET', KEYS[2], 'seq', ARGV[1])
redis.call('HSET', KEYS[3], 'epoch', ARGV[2])
return #entries`;

function rollBack(sid, keep) {
  const p = env.cluster.keyPrefix;
  return execFileSync("redis-cli", ["-u", env.cluster.redisUrl, "EVAL", ROLLBACK, "3",
    `${p}:session:${sid}:events`, `${p}:session:${sid}`, `${p}:store`, String(keep), "e2erollback"], { encoding: "utf8" });
}

env.test("a store rolled back under an open chat: both pages resync and show what the store holds", async () => {
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(env.hubs[0].url));
  const w = new Widget(cust.page);
  const sid = await establishChat(w, desk, { name: "Rita", agentName: "Bo Chen" });

  const kept = ["hello, is my order on its way?", "let me check that for you"];
  const lost = ["it was order 1042", "found it: it left this morning"];
  await w.send(kept[0]);
  await desk.expectMsg(kept[0], "customer");
  await desk.send(kept[1]);
  await w.expectMsg(kept[1], "agent");
  await w.send(lost[0]);
  await desk.expectMsg(lost[0], "customer");
  await desk.send(lost[1]);
  await w.expectMsg(lost[1], "agent");

  // Roll the store back to just before lost[0].
  const hist = await env.cluster.must("GET", `/api/v1/sessions/${sid}/messages?after=0&limit=200`);
  const at = hist.events.find((e) => e.type === "message.created" && e.message.text === lost[0]);
  assert.ok(at, `lost[0] in the history: ${JSON.stringify(hist.events.map((e) => e.type))}`);
  // Bo is writing when it happens: the rebuilt chat keeps his draft.
  await desk.composer.fill("one moment please");
  rollBack(sid, at.seq - 1);
  // Rita writes first, reusing a seq both pages have seen: they resync.
  const asks = "hello?";
  await w.send(asks);
  await desk.expectMsg(asks, "customer", { timeout: 20_000 });
  await expectCount(desk.msg(lost[1]), 0, { timeout: 15_000, what: "the desktop to drop the rolled-back messages" });
  assert.equal(await desk.composer.inputValue(), "one moment please", "Bo's draft after the resync");

  // Bo writes again: seqs the pages have seen, in a new epoch.
  const fresh = ["sorry, where were we?", "your parcel arrives tomorrow"];
  for (const t of fresh) await desk.send(t);
  for (const t of fresh) await w.expectMsg(t, "agent", { timeout: 20_000 });
  for (const t of fresh) await desk.expectMsg(t, "agent", { timeout: 20_000 });
  const want = [...kept, asks, ...fresh];
  for (const [who, page] of [["the widget", w], ["the desktop", desk]]) {
    for (const t of lost) await expectCount(page.msg(t), 0, { timeout: 15_000, what: `${who} to drop the rolled-back ${JSON.stringify(t)}` });
    await until(`${who} to show exactly what the store holds`, async () => {
      const texts = (await page.texts()).map((t) => t.trim());
      return JSON.stringify(texts) === JSON.stringify(want);
    }, { timeout: 15_000 });
  }
  // And the chat goes on both ways.
  await w.send("great, thanks");
  await desk.expectMsg("great, thanks", "customer");
}, { timeout: 90_000 });
