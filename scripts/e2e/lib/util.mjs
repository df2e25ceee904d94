// Small helpers shared by the harness: spare ports, random strings, bounded
// waits for things outside a browser (a process, a port, a REST state).
import net from "node:net";
import crypto from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = path.resolve(E2E_DIR, "..", "..");
export const ARTIFACTS_DIR = path.join(E2E_DIR, "artifacts");

/** A loopback TCP port nothing listens on right now (the OS picks it). */
export function sparePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** n random characters from [a-z0-9]. */
export function randomId(n = 10) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.randomBytes(n);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls check() until it returns a truthy value, and returns that value;
 * throws with `what` (and the last error or value) once `timeout` ms have
 * passed. Only for conditions outside a page (processes, ports, REST
 * state): pages are waited on with Playwright's own auto-waiting.
 */
export async function until(what, check, { timeout = 10_000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await delay(interval);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port, host = "127.0.0.1") {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.setTimeout(1000);
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
    s.once("timeout", () => { s.destroy(); resolve(false); });
  });
}

/** fetch with a deadline (AbortSignal.timeout). */
export function fetchT(url, opts = {}, timeout = 5000) {
  return fetch(url, { ...opts, signal: AbortSignal.timeout(timeout) });
}

/**
 * Where the documentation screenshots go: docs/screenshots/ (the README
 * shows them), or artifacts/screenshots/ with E2E_SCREENSHOTS=0, for a run
 * that should leave the tracked tree alone.
 */
export function screenshotPath(name) {
  const dir = process.env.E2E_SCREENSHOTS === "0"
    ? path.join(ARTIFACTS_DIR, "screenshots")
    : path.join(REPO_ROOT, "docs", "screenshots");
  return path.join(dir, name);
}
