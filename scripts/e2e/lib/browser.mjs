// Chromium for the tests: Debian's /usr/bin/chromium driven by playwright-core
// (never a downloaded browser). One browser per test file, one context per
// party (customer, agent, second agent, supervisor). Every party's console,
// page errors, failed requests and WebSocket frames are recorded, and saved
// with a screenshot to scripts/e2e/artifacts/ when a test fails.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS_DIR } from "./util.mjs";

export const CHROMIUM = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // Calls (tests/call.test.mjs): a fake camera and microphone (a test
  // pattern and a beep), and getUserMedia granted without a prompt.
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
];

/** How long one Playwright action or wait may take unless told otherwise. */
export const DEFAULT_TIMEOUT = 10_000;

const clip = (s, n = 400) => (s.length > n ? s.slice(0, n) + `… (${s.length} chars)` : s);

export class Party {
  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.log = [];
    const t0 = Date.now();
    const note = (s) => this.log.push(`+${((Date.now() - t0) / 1000).toFixed(3)}s ${s}`);
    this.note = note;
    page.on("console", (m) => note(`[console.${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => note(`[pageerror] ${e.stack || e.message}`));
    page.on("requestfailed", (r) => note(`[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => { if (r.status() >= 400) note(`[http ${r.status()}] ${r.request().method()} ${r.url()}`); });
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) note(`[navigated] ${f.url()}`); });
    page.on("websocket", (ws) => {
      note(`[ws open] ${ws.url()}`);
      ws.on("framesent", (f) => note(`[ws >] ${clip(String(f.payload))}`));
      ws.on("framereceived", (f) => note(`[ws <] ${clip(String(f.payload))}`));
      ws.on("socketerror", (e) => note(`[ws error] ${e}`));
      ws.on("close", () => note(`[ws close] ${ws.url()}`));
    });
    // A confirm() before closing a chat is what a user accepts.
    page.on("dialog", (d) => { note(`[dialog ${d.type()}] ${d.message()}`); d.accept().catch(() => {}); });
  }
}

export class E2EBrowser {
  constructor(browser) {
    this.browser = browser;
    this.parties = [];
  }

  /** A new context and page for one party. */
  async party(name, { viewport = { width: 1280, height: 800 }, ...opts } = {}) {
    const context = await this.browser.newContext({ viewport, ...opts });
    context.setDefaultTimeout(DEFAULT_TIMEOUT);
    context.setDefaultNavigationTimeout(15_000);
    const page = await context.newPage();
    const p = new Party(name, context, page);
    this.parties.push(p);
    return p;
  }

  /** Saves a screenshot, the DOM and the log of every open party to artifacts/<label>/. */
  async saveArtifacts(label) {
    const dir = path.join(ARTIFACTS_DIR, label.replace(/[^A-Za-z0-9._-]+/g, "_"));
    fs.mkdirSync(dir, { recursive: true });
    for (const p of this.parties) {
      const base = path.join(dir, p.name.replace(/[^A-Za-z0-9._-]+/g, "_"));
      fs.writeFileSync(`${base}.log`, p.log.join("\n") + "\n");
      if (p.page.isClosed()) continue;
      await p.page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5000 }).catch((e) => {
        fs.appendFileSync(`${base}.log`, `(screenshot failed: ${e.message})\n`);
      });
      // The DOM, shadow roots included, for reading what the page showed.
      const html = await p.page.evaluate(() => {
        const dump = (root) => {
          let s = "";
          for (const el of root.querySelectorAll("*")) {
            if (el.shadowRoot) s += `\n<!-- shadow root of <${el.localName}> -->\n${el.shadowRoot.innerHTML}\n<!-- end shadow root -->\n`;
          }
          return s;
        };
        return document.documentElement.outerHTML + dump(document);
      }).catch((e) => `(could not read the DOM: ${e.message})`);
      fs.writeFileSync(`${base}.html`, html);
    }
    return dir;
  }

  async close() {
    await this.browser.close().catch(() => {});
  }
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set E2E_CHROMIUM`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  return new E2EBrowser(browser);
}
