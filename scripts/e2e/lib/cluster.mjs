// A Switchboard cluster for one test file: two hub processes sharing one
// redis-server, the admin REST API to seed them, and a teardown that kills
// everything even when a test failed.
//
//   SWITCHBOARD_BIN  the hub binary (scripts/test.sh builds it); unset, the
//                    harness builds ./cmd/switchboard into a temp directory
//   E2E_REDIS_URL    a redis-server to use (scripts/test.sh passes its own);
//                    unset, the harness starts one on a spare port, without
//                    persistence, and stops it at teardown
//
// Every cluster gets its own SWITCHBOARD_KEY_PREFIX ('{e2e<random>}'), so
// runs sharing a redis-server never see each other's keys, and its own
// random admin key and operator key (SWITCHBOARD_OPERATOR_KEY, for the
// tenants' API: cluster.operatorKey, or api(..., { auth: "operator" })).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { sparePort, randomId, until, fetchT, REPO_ROOT, ARTIFACTS_DIR } from "./util.mjs";

const live = new Set(); // every child process started here, killed on exit whatever happens

function killAllNow() {
  for (const p of live) {
    try { process.kill(p.pid, "SIGKILL"); } catch { /* already gone */ }
  }
  live.clear();
}
process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => { killAllNow(); process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1)); });
}

function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Resolves when the child has exited (at once if it already has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", () => r()));
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
async function terminate(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try { child.kill("SIGTERM"); } catch { /* gone */ }
  let timer;
  const killed = new Promise((r) => {
    timer = setTimeout(() => {
      try { child.kill("SIGKILL"); } catch { /* gone */ }
      r();
    }, graceMs);
  });
  await Promise.race([exited(child), killed]);
  clearTimeout(timer);
  await exited(child);
}

let builtBin = null;

/** The hub binary: SWITCHBOARD_BIN, or one built now (once per process). */
export function hubBinary() {
  if (process.env.SWITCHBOARD_BIN) {
    const bin = path.resolve(process.env.SWITCHBOARD_BIN);
    if (!fs.existsSync(bin)) throw new Error(`SWITCHBOARD_BIN=${bin} does not exist`);
    return bin;
  }
  if (builtBin) return builtBin;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-e2e-bin-"));
  const bin = path.join(dir, "switchboard");
  execFileSync("go", ["build", "-o", bin, "./cmd/switchboard"], {
    cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"], timeout: 300_000,
  });
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  builtBin = bin;
  return bin;
}

/** PING a redis at host:port over RESP; true on +PONG. */
function redisPing(port, host = "127.0.0.1") {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    let buf = "";
    s.setTimeout(1000);
    s.once("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) { s.destroy(); resolve(buf.startsWith("+PONG")); }
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => { s.destroy(); resolve(false); });
  });
}

async function startRedis(workDir) {
  const port = await sparePort();
  const child = track(spawn("redis-server", [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", workDir, "--logfile", path.join(workDir, "redis.log"), "--daemonize", "no",
  ], { stdio: "ignore" }));
  const failed = new Promise((_, rej) => {
    child.once("error", (e) => rej(new Error(`redis-server: ${e.message} (is redis-server installed?)`)));
  });
  await Promise.race([until(`redis-server on port ${port}`, () => redisPing(port), { timeout: 10_000 }), failed]);
  return { child, url: `redis://127.0.0.1:${port}/0` };
}

export const PASSWORDS = {
  bo: "bo-correct-horse-1",
  ana: "ana-correct-horse-2",
  sam: "sam-correct-horse-3",
};

/** The accounts seed() creates. */
export const AGENTS = {
  bo: { id: "agent_bo", name: "Bo Chen", email: "bo@example.com", password: PASSWORDS.bo, role: "agent", capacity: 5 },
  ana: { id: "agent_ana", name: "Ana Lima", email: "ana@example.com", password: PASSWORDS.ana, role: "agent", capacity: 5 },
  sam: { id: "agent_sam", name: "Sam Super", email: "sam@example.com", password: PASSWORDS.sam, role: "supervisor", capacity: 5 },
};

export class Cluster {
  constructor() {
    this.hubs = []; // { name, port, url, logFile, child, env }
    this.redis = null; // our own redis-server, when E2E_REDIS_URL is unset
    this.redisUrl = "";
    this.adminKey = "sk_e2e_" + randomId(32);
    this.operatorKey = "sk_e2e_op_" + randomId(32);
    this.tokenSecret = "e2e-token-secret-" + randomId(32);
    this.keyPrefix = `{e2e${randomId(10)}}`;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-e2e-"));
    this.allowedOrigins = [];
  }

  /** Starts redis (if needed) and `n` hubs; allowedOrigins are host:port patterns. */
  async start({ allowedOrigins = [], n = 2, env = {} } = {}) {
    this.allowedOrigins = allowedOrigins;
    this.extraEnv = env;
    if (process.env.E2E_REDIS_URL) {
      this.redisUrl = process.env.E2E_REDIS_URL;
    } else {
      this.redis = await startRedis(this.workDir);
      this.redisUrl = this.redis.url;
    }
    this.bin = hubBinary();
    const names = ["A", "B", "C", "D"];
    for (let i = 0; i < n; i++) {
      const port = await sparePort();
      this.hubs.push({ name: names[i], port, url: `http://127.0.0.1:${port}`, logFile: path.join(this.workDir, `hub${names[i]}.log`), child: null });
    }
    // Start them one after the other: the first one to start initialises shared state.
    for (let i = 0; i < n; i++) await this.startHub(i);
    return this;
  }

  hubEnv(h) {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME || os.tmpdir(),
      TMPDIR: os.tmpdir(),
      SWITCHBOARD_ADDR: `127.0.0.1:${h.port}`,
      SWITCHBOARD_REDIS_URL: this.redisUrl,
      SWITCHBOARD_KEY_PREFIX: this.keyPrefix,
      SWITCHBOARD_ADMIN_KEY: this.adminKey,
      SWITCHBOARD_OPERATOR_KEY: this.operatorKey,
      SWITCHBOARD_TOKEN_SECRET: this.tokenSecret,
      SWITCHBOARD_ALLOWED_ORIGINS: this.allowedOrigins.join(","),
      SWITCHBOARD_DEMO: "false",
      SWITCHBOARD_OFFER_TIMEOUT: "30s",
      SWITCHBOARD_RATING_WINDOW: "5m",
      SWITCHBOARD_LOG_LEVEL: "warn",
      SWITCHBOARD_SHUTDOWN_TIMEOUT: "2s",
      // Attachments on a disk both hubs share (as a production cluster
      // would use S3): under the cluster's work directory, gone with it.
      SWITCHBOARD_FILES_DIR: path.join(this.workDir, "files"),
      ...this.extraEnv,
    };
  }

  /** Starts hub i (again, after stop(i)) and waits until /readyz answers 200. */
  async startHub(i) {
    const h = this.hubs[i];
    if (h.child && h.child.exitCode === null && h.child.signalCode === null) return h;
    const log = fs.openSync(h.logFile, "a");
    fs.writeSync(log, `--- hub ${h.name} starting at ${new Date().toISOString()} on ${h.url}\n`);
    h.child = track(spawn(this.bin, [], { env: this.hubEnv(h), stdio: ["ignore", log, log] }));
    fs.closeSync(log);
    const child = h.child;
    const died = new Promise((_, rej) => {
      child.once("error", (e) => rej(new Error(`hub ${h.name}: ${e.message}`)));
      child.once("exit", (code, sig) => rej(new Error(`hub ${h.name} exited (${code ?? sig}) before it was ready:\n${this.tail(h)}`)));
    });
    died.catch(() => {}); // only raced below
    await Promise.race([
      until(`hub ${h.name} ${h.url}/readyz`, async () => (await fetchT(`${h.url}/readyz`, {}, 2000)).status === 200, { timeout: 20_000, interval: 100 }),
      died,
    ]);
    return h;
  }

  /** Stops hub i: SIGTERM (a graceful drain), then SIGKILL after 5 s. */
  async stop(i) {
    await terminate(this.hubs[i].child, 5000);
  }

  /** Kills hub i at once (SIGKILL), like a crashed machine. */
  async kill(i) {
    const c = this.hubs[i].child;
    if (!c) return;
    try { c.kill("SIGKILL"); } catch { /* gone */ }
    await exited(c);
  }

  /** The last lines of hub h's log. */
  tail(h, lines = 80) {
    try {
      const all = fs.readFileSync(h.logFile, "utf8").split("\n");
      return all.slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Prints every hub's log to stderr and copies them to artifacts/<label>/. */
  dumpLogs(label = "cluster") {
    const dir = path.join(ARTIFACTS_DIR, label.replace(/[^A-Za-z0-9._-]+/g, "_"));
    fs.mkdirSync(dir, { recursive: true });
    for (const h of this.hubs) {
      process.stderr.write(`\n===== hub ${h.name} (${h.url}) log =====\n${this.tail(h, 200)}\n`);
      try { fs.copyFileSync(h.logFile, path.join(dir, `hub${h.name}.log`)); } catch { /* none */ }
    }
  }

  /** Kills every hub and our redis-server, and removes the work directory. */
  async teardown() {
    await Promise.all(this.hubs.map((h) => terminate(h.child, 3000)));
    if (this.redis) await terminate(this.redis.child, 3000);
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /**
   * A REST call; auth is "admin" (the default tenant's admin key), "operator"
   * (the operator key), a token or another key, or null.
   * Returns { status, body, headers }; body is parsed JSON when it is JSON.
   */
  async api(method, p, { body, auth = "admin", hub = 0, headers = {} } = {}) {
    const h = {};
    if (auth === "admin") h.Authorization = `Bearer ${this.adminKey}`;
    else if (auth === "operator") h.Authorization = `Bearer ${this.operatorKey}`;
    else if (auth) h.Authorization = `Bearer ${auth}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const res = await fetchT(`${this.hubs[hub].url}${p}`, {
      method, headers: { ...h, ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
    }, 10_000);
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Like api() but throws unless the status is the expected one. */
  async must(method, p, opts = {}, want = [200, 201]) {
    const r = await this.api(method, p, opts);
    const ok = Array.isArray(want) ? want.includes(r.status) : r.status === want;
    if (!ok) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Seeds agents Bo and Ana, supervisor Sam, and team Billing (Bo and Ana in it). */
  async seed() {
    const team = await this.must("POST", "/api/v1/teams", { body: { name: "Billing" } });
    for (const a of Object.values(AGENTS)) {
      await this.must("POST", "/api/v1/agents", { body: { id: a.id, name: a.name, email: a.email, password: a.password, role: a.role, capacity: a.capacity } });
    }
    for (const a of [AGENTS.bo, AGENTS.ana]) {
      await this.must("PATCH", `/api/v1/agents/${a.id}`, { body: { team_ids: [team.id] } });
    }
    return { agents: AGENTS, team };
  }

  /**
   * Creates tenant `id` through the operator API; returns the tenant, with
   * its admin_key (shown this once).
   */
  async createTenant(id, { name = id, settings } = {}) {
    const body = { id, name };
    if (settings) body.settings = settings;
    return this.must("POST", "/api/v1/operator/tenants", { body, auth: "operator" }, 201);
  }

  /** Every session, newest first (the supervisors' list, with the admin key). */
  async sessions() {
    const r = await this.must("GET", "/api/v1/sessions?limit=100");
    return r.sessions || [];
  }
}

/** Starts a cluster; see Cluster.start. */
export async function startCluster(opts) {
  const c = new Cluster();
  try {
    await c.start(opts);
  } catch (err) {
    c.dumpLogs("cluster-start");
    await c.teardown();
    throw err;
  }
  return c;
}
