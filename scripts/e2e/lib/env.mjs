// One test file's world: the two shops (an allowed origin and a foreign
// one), the cluster (two hubs on one redis, seeded), load balancers made on
// demand, and one Chromium. A test registered with env.test() saves the
// parties' screenshots, DOM and logs plus the hubs' logs when it fails.
//
//   const env = new Env("flow");
//   before(() => env.start());
//   after(() => env.teardown());
//   env.test("a customer chats", async () => { ... });
import { test } from "node:test";
import { startCluster } from "./cluster.mjs";
import { startLB } from "./lb.mjs";
import { startShop } from "./shop.mjs";
import { launchBrowser } from "./browser.mjs";

export class Env {
  constructor(name) {
    this.name = name;
    this.lbs = [];
    this.cluster = null;
    this.browser = null;
    this.shop = null; // on SWITCHBOARD_ALLOWED_ORIGINS
    this.foreignShop = null; // not on it
    this.seeded = null;
  }

  async start({ seed = true, env = {} } = {}) {
    try {
      this.shop = await startShop();
      this.foreignShop = await startShop();
      this.cluster = await startCluster({ allowedOrigins: [this.shop.host], env });
      if (seed) this.seeded = await this.cluster.seed();
      this.browser = await launchBrowser();
    } catch (err) {
      await this.teardown();
      throw err;
    }
    return this;
  }

  get hubs() {
    return this.cluster.hubs;
  }

  /** A load balancer over the given hub indexes (first preferred). */
  async lb(hubIndexes) {
    const lb = await startLB(hubIndexes.map((i) => this.cluster.hubs[i].port));
    this.lbs.push(lb);
    return lb;
  }

  async teardown() {
    if (this.browser) await this.browser.close();
    for (const lb of this.lbs) await lb.close().catch(() => {});
    if (this.cluster) await this.cluster.teardown();
    if (this.shop) await this.shop.close().catch(() => {});
    if (this.foreignShop) await this.foreignShop.close().catch(() => {});
  }

  /**
   * Registers a node:test test bounded by `timeout` ms; on failure (or the
   * deadline) it saves artifacts and prints the hubs' logs before failing.
   */
  test(name, fn, { timeout = 90_000 } = {}) {
    test(name, { timeout: timeout + 30_000 }, async (t) => {
      const label = `${this.name}-${name}`;
      let timer;
      const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`"${name}" did not finish within ${timeout} ms`)), timeout);
      });
      try {
        await Promise.race([fn(t), deadline]);
      } catch (err) {
        let dir = "";
        if (this.browser) dir = await this.browser.saveArtifacts(label).catch((e) => `(artifacts failed: ${e.message})`);
        if (this.cluster) this.cluster.dumpLogs(label);
        for (const lb of this.lbs) process.stderr.write(`\nLB :${lb.port} connections:\n${lb.log.slice(-40).join("\n")}\n`);
        process.stderr.write(`\nartifacts of "${name}": ${dir}\n`);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    });
  }
}
