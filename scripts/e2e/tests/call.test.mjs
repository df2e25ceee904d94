// Voice and video calls between the widget (customer, hub A) and the agent
// desktop (Bo, hub B): Chromium's fake camera and microphone
// (--use-fake-device-for-media-stream, lib/browser.mjs), WebRTC over
// loopback, the hub signalling. Each test opens its own chat and, at its
// start, closes what the one before left (its pages and its session).
//
// It also writes docs/screenshots/call-widget.png and call-agent.png, mid
// video call (artifacts/screenshots/ with E2E_SCREENSHOTS=0).
//
// The tests of the ring timeout and of a reload run on a second cluster
// whose hubs ring for 3 s (SWITCHBOARD_CALL_RING_TIMEOUT) and keep a lost
// leg for 3 s (SWITCHBOARD_CALL_GRACE).
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectAttr, expectHidden, expectText, expectVisible } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("call");
const short = new Env("call-short"); // started by the first test that needs it
before(() => env.start());
after(async () => {
  await env.teardown();
  await short.teardown();
});

const TEST_TIMEOUT = { timeout: 60_000 };
const open = new Map(); // Env -> session ids the tests left open

/** Closes the pages and the sessions an earlier test of e left. */
async function fresh(e) {
  for (const sid of open.get(e) || []) await e.cluster.api("DELETE", `/customer-service/sessions/${sid}`).catch(() => {});
  open.set(e, []);
  for (const p of e.browser.parties.splice(0)) await p.context.close().catch(() => {});
}

/**
 * A chat between a customer (widget on hub A) and Bo (desktop on hub B).
 * agentInit and custInit run in the pages before their scripts (to take
 * WebRTC or the microphone away); custHub replaces hub A for the widget
 * (a load balancer).
 */
async function chat(e, name, { agentInit, custInit, custHub } = {}) {
  await fresh(e);
  const [A, B] = e.hubs;
  const bo = e.seeded.agents.bo;
  const agent = await e.browser.party(`agent-${name}`);
  if (agentInit) await agent.page.addInitScript(agentInit);
  const desk = new Desk(agent.page, B.url);
  await desk.login(bo);
  await desk.setStatus("Available");
  const cust = await e.browser.party(`customer-${name}`, { viewport: { width: 420, height: 760 } });
  if (custInit) await cust.page.addInitScript(custInit);
  await cust.page.goto(e.shop.pageUrl(custHub || A.url));
  const w = new Widget(cust.page);
  const sid = await establishChat(w, desk, { name, question: `${name} would like to talk`, agentName: bo.name });
  open.get(e).push(sid);
  return { desk, w, sid, agent, cust, ...callParts(agent.page, cust.page) };
}

/** The call areas and their parts on the desktop (data-testid call*) and in the widget (sb-call*). */
function callParts(agentPage, custPage) {
  const agentCall = agentPage.locator("[data-testid=call]");
  const custCall = custPage.locator("[data-testid=sb-call]");
  return {
    agentCall, custCall,
    agentStatus: agentCall.locator("[data-testid=call-status]"),
    custStatus: custCall.locator("[data-testid=sb-call-status]"),
  };
}

const button = (locator, name) => locator.getByRole("button", { name, exact: true });

/**
 * Waits until the page's call (window.__sbCall.pc) has received more than
 * `above` bytes of each kind of media (inbound-rtp bytesReceived), and
 * returns what it has. getStats is asynchronous: each poll starts one and
 * reads the last one that finished.
 */
async function inboundAbove(page, kinds, above, what) {
  try {
    const handle = await page.waitForFunction(({ kinds, above }) => {
      const call = window.__sbCall;
      if (!call?.pc) return false;
      if (!window.__e2eStatsBusy) {
        window.__e2eStatsBusy = true;
        call.pc.getStats().then((report) => {
          const got = { audio: 0, video: 0 };
          report.forEach((s) => {
            if (s.type === "inbound-rtp") got[s.kind] = (got[s.kind] || 0) + (s.bytesReceived || 0);
          });
          window.__e2eStats = got;
        }).finally(() => (window.__e2eStatsBusy = false));
      }
      const got = window.__e2eStats;
      return !!got && kinds.every((k) => got[k] > (above[k] || 0)) && got;
    }, { kinds, above }, { polling: 200, timeout: 15_000 });
    return await handle.jsonValue();
  } catch (err) {
    const last = await page.evaluate(() => window.__e2eStats).catch(() => null);
    throw new Error(`expected ${what}: inbound-rtp ${kinds.join(" and ")} bytesReceived above ${JSON.stringify(above)}; last seen ${JSON.stringify(last)} (${err.message})`);
  }
}

/** Checks that media of each kind arrives on the page and keeps arriving (two polls of getStats, growing). */
async function expectMediaFlowing(page, kinds, who) {
  const first = await inboundAbove(page, kinds, {}, `${who} to receive ${kinds.join(" and ")}`);
  await page.evaluate(() => (window.__e2eStats = null));
  await inboundAbove(page, kinds, first, `${who}'s received ${kinds.join(" and ")} bytes to grow`);
}

/** Waits until a <video> plays frames (it has a size and is not paused). */
async function expectVideoPlaying(page, locator, what) {
  const el = await locator.elementHandle();
  try {
    await page.waitForFunction((v) => v.readyState >= 2 && v.videoWidth > 0 && !v.paused, el, { polling: 100, timeout: 10_000 });
  } catch (err) {
    const got = await el.evaluate((v) => ({ readyState: v.readyState, videoWidth: v.videoWidth, paused: v.paused, src: !!v.srcObject })).catch(() => null);
    throw new Error(`expected ${what} to play: ${JSON.stringify(got)} (${err.message})`);
  }
}

/** The agent calls (media audio or video), the customer accepts; both show the call connected. */
async function callAndAccept(c, media) {
  await button(c.desk.page, media === "video" ? "Video call" : "Audio call").click();
  await expectAttr(c.agentCall, "data-state", "outgoing", { what: "the desktop to show its outgoing call" });
  await expectText(c.agentStatus, "Calling…", { what: 'the desktop to say "Calling…"' });
  await expectAttr(c.custCall, "data-state", "incoming", { what: "the widget to show the incoming call" });
  await expectText(c.custStatus, `Incoming ${media === "video" ? "video" : "voice"} call from Bo Chen`, { what: "the widget's incoming-call banner" });
  await expectAttr(c.custCall, "data-ringing", "true", { what: "the widget to ring" });
  await button(c.custCall, "Accept").click();
  await expectAttr(c.custCall, "data-state", "connected", { timeout: 15_000, what: "the widget's call to connect" });
  await expectAttr(c.agentCall, "data-state", "connected", { timeout: 15_000, what: "the desktop's call to connect" });
  await expectAttr(c.custCall, "data-media", media, { what: `the widget's call to be ${media}` });
}

env.test("a video call: Bo calls, the customer accepts, audio and video flow both ways, the customer hangs up", async () => {
  const c = await chat(env, "Maria");
  await callAndAccept(c, "video");
  await expectMediaFlowing(c.cust.page, ["audio", "video"], "the customer");
  await expectMediaFlowing(c.desk.page, ["audio", "video"], "Bo");
  await expectVideoPlaying(c.cust.page, c.custCall.locator("[data-testid=sb-call-remote-video]"), "the widget's video of Bo");
  await expectVideoPlaying(c.cust.page, c.custCall.locator("[data-testid=sb-call-local-video]"), "the widget's preview of the customer's camera");
  await expectVideoPlaying(c.desk.page, c.agentCall.locator("[data-testid=call-remote-video]"), "the desktop's video of the customer");
  await expectVideoPlaying(c.desk.page, c.agentCall.locator("[data-testid=call-local-video]"), "the desktop's preview of Bo's camera");
  await expectText(c.custCall.locator("[data-testid=sb-call-timer]"), /^\s*\d+:\d\d\s*$/, { what: "the widget's call timer" });
  await expectText(c.agentCall.locator("[data-testid=call-timer]"), /^\s*\d+:\d\d\s*$/, { what: "the desktop's call timer" });
  await expectText(c.w.notes, "Video call started", { what: 'the widget\'s transcript line "Video call started"' });
  await expectText(c.desk.notes, "Video call started", { what: 'the desktop\'s transcript line "Video call started"' });

  // The chat goes on during the call.
  await c.w.send("Can you see me?");
  await c.desk.expectMsg("Can you see me?", "customer");
  await c.desk.send("Yes, loud and clear.");
  await c.w.expectMsg("Yes, loud and clear.", "agent");

  // Mid-call, both sides playing each other's video: the README's screenshots.
  await c.cust.page.screenshot({ path: screenshotPath("call-widget.png") });
  await c.desk.page.screenshot({ path: screenshotPath("call-agent.png") });

  // Mute and camera off act on this page's tracks.
  await button(c.custCall, "Mute").click();
  await expectAttr(button(c.custCall, "Unmute"), "aria-pressed", "true", { what: 'the widget\'s "Unmute" pressed' });
  const muted = await c.cust.page.evaluate(() => window.__sbCall.pc.getSenders().filter((s) => s.track?.kind === "audio").map((s) => s.track.enabled));
  assert.deepEqual(muted, [false], "the customer's microphone track is disabled while muted");
  await button(c.custCall, "Unmute").click();
  await button(c.agentCall, "Camera off").click();
  await expectVisible(button(c.agentCall, "Camera on"), { what: 'the desktop\'s "Camera on" once the camera is off' });
  await button(c.agentCall, "Camera on").click();
  await expectVisible(button(c.agentCall, "Camera off"), { what: 'the desktop\'s "Camera off" again' });

  await button(c.custCall, "Hang up").click();
  await expectText(c.custStatus, /^Call ended: hung up, \d+:\d\d$/, { what: "the widget to say the call ended" });
  await expectText(c.agentStatus, /^Call ended: hung up, \d+:\d\d$/, { what: "the desktop to say the call ended" });
  await expectText(c.w.notes, /Video call ended: hung up, \d+:\d\d/, { what: "the widget's transcript line of the end" });
  await expectText(c.desk.notes, /Video call ended: hung up, \d+:\d\d/, { what: "the desktop's transcript line of the end" });
  for (const [who, page] of [["the customer", c.cust.page], ["Bo", c.desk.page]]) {
    assert.equal(await page.evaluate(() => !!window.__sbCall), false, `${who}'s peer connection is gone`);
  }
  // The call buttons work again once it is over.
  await expectVisible(c.desk.page.locator(".pane-actions button:not([disabled])", { hasText: "Video call" }), { what: 'Bo\'s "Video call" enabled again' });
  await expectVisible(c.cust.page.locator("button[aria-label='Video call']:not([disabled])"), { what: 'the customer\'s "Video call" enabled again' });
}, TEST_TIMEOUT);

env.test("a voice call hung up by the agent", async () => {
  const c = await chat(env, "Jonas");
  await callAndAccept(c, "audio");
  await expectMediaFlowing(c.cust.page, ["audio"], "the customer");
  await expectMediaFlowing(c.desk.page, ["audio"], "Bo");
  await expectHidden(c.custCall.locator("[data-testid=sb-call-remote-video]"), { what: "no video in a voice call" });
  assert.equal(await c.cust.page.locator("[data-testid=sb-call-remote-audio]").evaluate((a) => !!a.srcObject), true, "the widget plays Bo's audio");
  assert.equal(await c.desk.page.locator("[data-testid=call-remote-audio]").evaluate((a) => !!a.srcObject), true, "the desktop plays the customer's audio");
  await expectHidden(button(c.agentCall, "Camera off"), { what: "no camera button in a voice call" });

  // A supervisor (hub A) sees the call in the sessions list, live.
  const sam = await env.browser.party("supervisor-Jonas");
  await new Desk(sam.page, env.hubs[0].url).login(env.seeded.agents.sam, "/supervisor");
  const badge = sam.page.locator(`[data-testid=session-row][data-session="${c.sid}"] [data-testid=session-call]`);
  await expectText(badge, /^Voice · connected · \d+s$/, { timeout: 15_000, what: "the session's row to show its voice call, connected" });

  await button(c.agentCall, "Hang up").click();
  await expectText(c.agentStatus, /^Call ended: hung up/, { what: "the desktop to say the call ended" });
  await expectText(c.custStatus, /^Call ended: hung up/, { what: "the widget to say the call ended" });
  await expectText(c.w.notes, /Voice call ended: hung up/, { what: "the widget's transcript line" });
  await expectHidden(badge, { timeout: 15_000, what: "the call to leave the supervisor's row once it ended" });
}, TEST_TIMEOUT);

env.test("the customer calls Bo, who has two tabs: both ring, the first answers, the other shows Answered elsewhere", async () => {
  const c = await chat(env, "Lena");
  const [A] = env.hubs;
  const p2 = await env.browser.party("agent-Lena-tab2");
  const tab2 = new Desk(p2.page, A.url);
  await tab2.login(env.seeded.agents.bo);
  await expectVisible(tab2.sessionItem(c.sid), { what: "the chat in tab 2's list" });
  const tab2Call = p2.page.locator("[data-testid=call]");

  await button(c.cust.page, "Video call").click();
  await expectText(c.custStatus, "Calling…", { what: 'the widget to say "Calling…"' });
  for (const [who, call] of [["tab 1", c.agentCall], ["tab 2", tab2Call]]) {
    await expectAttr(call, "data-state", "incoming", { what: `${who} to show the incoming call` });
    await expectText(call.locator("[data-testid=call-status]"), "Incoming video call from Lena", { what: `${who}'s banner` });
    await expectAttr(call, "data-ringing", "true", { what: `${who} to ring` });
  }
  await button(c.agentCall, "Accept").click();
  await expectAttr(c.agentCall, "data-state", "connected", { timeout: 15_000, what: "tab 1's call to connect" });
  await expectAttr(c.custCall, "data-state", "connected", { timeout: 15_000, what: "the widget's call to connect" });
  await expectText(tab2Call.locator("[data-testid=call-status]"), "Answered elsewhere", { what: 'tab 2 to say "Answered elsewhere"' });
  await expectAttr(tab2Call, "data-ringing", "false", { what: "tab 2 to stop ringing" });
  await expectHidden(button(tab2Call, "Accept"), { what: "no Accept in tab 2 any more" });
  await expectMediaFlowing(c.desk.page, ["audio", "video"], "tab 1");
  assert.equal(await p2.page.evaluate(() => !!window.__sbCall), false, "tab 2 has no peer connection");

  await button(c.custCall, "Hang up").click();
  await expectText(c.agentStatus, /^Call ended: hung up/, { what: "tab 1 to say the call ended" });
  await expectText(tab2Call.locator("[data-testid=call-status]"), /^Call ended: hung up/, { what: "tab 2 to say the call ended" });
}, TEST_TIMEOUT);

env.test("closing the session through the Customer Service API ends the call on both pages", async () => {
  const c = await chat(env, "Omar");
  await callAndAccept(c, "video");
  const res = await env.cluster.api("DELETE", `/customer-service/sessions/${c.sid}`);
  assert.equal(res.status, 200, `DELETE /customer-service/sessions/${c.sid}: ${JSON.stringify(res.body)}`);
  await expectText(c.custStatus, /^Call ended: chat closed/, { what: "the widget to say the call ended with the chat" });
  await expectText(c.agentStatus, /^Call ended: chat closed/, { what: "the desktop to say the call ended with the chat" });
  await expectVisible(c.w.rating, { what: "the widget to ask for a rating: the chat ended" });
  await expectText(c.desk.page.locator(".pane-sub"), "Ended", { what: "the desktop to show the chat ended" });
  for (const [who, page] of [["the customer", c.cust.page], ["Bo", c.desk.page]]) {
    assert.equal(await page.evaluate(() => !!window.__sbCall), false, `${who}'s peer connection is gone`);
  }
  // The call's line comes before the chat's end in the transcript.
  const notes = (await c.w.notes.allTextContents()).map((t) => t.trim());
  const callEnd = notes.findIndex((t) => t.startsWith("Video call ended: chat closed"));
  const chatEnd = notes.findIndex((t) => /ended the chat/.test(t));
  assert.ok(callEnd >= 0 && chatEnd > callEnd, `the call ends before the chat: ${JSON.stringify(notes)}`);
}, TEST_TIMEOUT);

env.test("the customer declines Bo's call", async () => {
  const c = await chat(env, "Ines");
  await button(c.desk.page, "Video call").click();
  await expectAttr(c.custCall, "data-state", "incoming", { what: "the widget to show the incoming call" });
  await button(c.custCall, "Decline").click();
  await expectText(c.custStatus, /^Call ended: declined, 0:00$/, { what: "the widget to say declined" });
  await expectText(c.agentStatus, /^Call ended: declined, 0:00$/, { what: "the desktop to say declined" });
  await expectAttr(c.custCall, "data-ringing", "false", { what: "the widget to stop ringing" });
  await expectText(c.desk.notes, /Video call ended: declined/, { what: "the desktop's transcript line" });
  assert.equal(await c.desk.page.evaluate(() => !!window.__sbCall), false, "Bo never made a peer connection");
}, TEST_TIMEOUT);

env.test("a browser without WebRTC, and a refused microphone, say so", async () => {
  const c = await chat(env, "Tom", {
    agentInit: () => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
    },
    custInit: () => {
      delete window.RTCPeerConnection;
    },
  });
  await button(c.desk.page, "Video call").click();
  await expectText(c.agentCall.locator("[data-testid=call-error]"), "Microphone or camera access was refused", { what: "the desktop to say the camera was refused" });
  await button(c.cust.page, "Audio call").click();
  await expectText(c.custCall.locator("[data-testid=sb-call-error]"), "This browser cannot make calls", { what: "the widget to say it cannot call" });
  // Neither placed a call.
  await expectAttr(c.agentCall, "data-state", "idle", { what: "no call on the desktop" });
  await expectAttr(c.custCall, "data-state", "idle", { what: "no call in the widget" });
  const info = await env.cluster.api("GET", `/api/v1/sessions/${c.sid}`);
  assert.equal(info.body.call, null, `no call in the session: ${JSON.stringify(info.body.call)}`);
}, TEST_TIMEOUT);

async function startShort() {
  if (!short.cluster) await short.start({ env: { SWITCHBOARD_CALL_RING_TIMEOUT: "3s", SWITCHBOARD_CALL_GRACE: "3s" } });
}

short.test("nobody answers: the call ends 'no answer' on both pages after the ring timeout (3 s)", async () => {
  await startShort();
  const c = await chat(short, "Pia");
  await button(c.desk.page, "Audio call").click();
  await expectAttr(c.custCall, "data-state", "incoming", { what: "the widget to show the incoming call" });
  await expectText(c.agentStatus, "Calling…", { what: 'the desktop to say "Calling…"' });
  await expectText(c.custStatus, /^Call ended: no answer, 0:00$/, { timeout: 15_000, what: "the widget to say no answer" });
  await expectText(c.agentStatus, /^Call ended: no answer, 0:00$/, { timeout: 15_000, what: "the desktop to say no answer" });
  await expectAttr(c.custCall, "data-ringing", "false", { what: "the widget to stop ringing" });
}, TEST_TIMEOUT);

short.test("reloading the customer's page mid-call ends the call on Bo's page; the reloaded widget does not ring", async (t) => {
  await startShort();
  const c = await chat(short, "Rui");
  await callAndAccept(c, "audio");
  await c.cust.page.reload();
  await expectText(c.agentStatus, /^Call ended: (hung up|connection lost)/, { timeout: 15_000, what: "the desktop to say the call ended" });
  assert.equal(await c.desk.page.evaluate(() => !!window.__sbCall), false, "Bo's peer connection is gone");
  const ended = (await short.cluster.api("GET", `/api/v1/sessions/${c.sid}`)).body.calls?.[0];
  t.diagnostic(`the reloaded page's call ended ${ended?.reason} (hangup: sent on pagehide; network_lost: after the grace)`);
  // The reloaded widget replays the call's events (ringing, started, ended) without ringing.
  const w = new Widget(c.cust.page);
  await expectVisible(w.panel.or(w.launcher), { timeout: 15_000, what: "the widget after the reload" });
  if (!(await w.panel.isVisible())) await w.open();
  await expectText(w.notes, /Voice call ended: (hung up|connection lost)/, { timeout: 15_000, what: "the replayed transcript line of the end" });
  const state = await c.custCall.getAttribute("data-state");
  assert.ok(state === "ended" || state === "idle", `the reloaded widget shows no live call (data-state=${state})`);
  assert.equal(await c.custCall.getAttribute("data-ringing"), "false", "the reloaded widget does not ring");
  // A new call works after the reload.
  await callAndAccept(c, "audio");
  await button(c.custCall, "Hang up").click();
  await expectText(c.agentStatus, /^Call ended: hung up/, { what: "the desktop to say the second call ended" });
}, TEST_TIMEOUT);

short.test("the customer's socket drops mid-call: it reconnects, rejoins the call, and the call goes on", async () => {
  await startShort();
  const lb = await short.lb([0]);
  const c = await chat(short, "Sol", { custHub: lb.url });
  await callAndAccept(c, "audio");
  // The widget's call.rejoin and the hub's reply to it, whatever socket carries them.
  const rejoin = new Promise((resolve) => {
    let id = "";
    c.cust.page.on("websocket", (ws) => {
      ws.on("framesent", (f) => {
        const m = JSON.parse(String(f.payload));
        if (m.type === "call.rejoin") id = m.id;
      });
      ws.on("framereceived", (f) => {
        const m = JSON.parse(String(f.payload));
        if (id && m.type === "reply" && m.id === id) resolve(m);
      });
    });
  });
  lb.cut();
  await expectText(c.w.offline, /reconnecting/i, { what: "the widget's offline banner" });
  lb.restore();
  await expectHidden(c.w.offline, { timeout: 15_000, what: "the widget to reconnect" });
  let timer;
  const reply = await Promise.race([rejoin, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the widget sent no call.rejoin, or got no reply to it, within 10 s of reconnecting")), 10_000);
  })]).finally(() => clearTimeout(timer));
  assert.equal(reply.ok, true, `call.rejoin's reply: ${JSON.stringify(reply)}`);
  assert.equal(reply.call_state, "connected", `call.rejoin's reply: ${JSON.stringify(reply)}`);
  await expectAttr(c.custCall, "data-state", "connected", { what: "the widget's call still connected" });
  await expectAttr(c.agentCall, "data-state", "connected", { what: "the desktop's call still connected" });
  await expectMediaFlowing(c.desk.page, ["audio"], "Bo, after the customer's reconnect");
  await button(c.custCall, "Hang up").click();
  await expectText(c.agentStatus, /^Call ended: hung up/, { what: "the desktop to say the call was hung up (not lost)" });
}, TEST_TIMEOUT);
