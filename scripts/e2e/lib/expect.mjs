// Auto-waiting assertions on locators, built on playwright-core's public
// waits (locator.waitFor with filters), since expect() comes only with
// @playwright/test. Each waits up to `timeout` ms and, when it gives up,
// says what the page showed instead.
import { DEFAULT_TIMEOUT } from "./browser.mjs";

/** A RegExp matching exactly `s` (surrounding white space allowed). */
export function exactly(s) {
  return new RegExp("^\\s*" + s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\s*$");
}

/** A case-insensitive RegExp for the substring `s`. */
export function containing(s) {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
}

/** What a locator matches now, for error messages. */
export async function describe(locator) {
  try {
    const n = await locator.count();
    if (n === 0) return "no element matched";
    const texts = await locator.evaluateAll((els) => els.slice(0, 8).map((e) => {
      const attrs = [...e.attributes].map((a) => `${a.name}="${a.value}"`).join(" ");
      const text = (e.textContent || "").replace(/\s+/g, " ").trim().slice(0, 160);
      const shown = !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
      return `<${e.localName} ${attrs}>${shown ? "" : " (not visible)"} ${JSON.stringify(text)}`;
    }));
    return `${n} element(s): ${texts.join(" | ")}`;
  } catch (e) {
    return `(could not read: ${e.message})`;
  }
}

async function wrap(what, locator, fn) {
  try {
    return await fn();
  } catch (err) {
    if (err && err.name === "TimeoutError") {
      const e = new Error(`expected ${what}; the page shows ${await describe(locator)}\n  (${locator})`);
      e.cause = err;
      throw e;
    }
    throw err;
  }
}

/** Waits until the (first) element is visible. */
export function expectVisible(locator, { timeout = DEFAULT_TIMEOUT, what } = {}) {
  return wrap(what || "a visible element", locator, () => locator.first().waitFor({ state: "visible", timeout }));
}

/** Waits until no element matching is visible (absent or hidden). */
export async function expectHidden(locator, { timeout = DEFAULT_TIMEOUT, what } = {}) {
  const deadline = Date.now() + timeout;
  return wrap(what || "no visible element", locator, async () => {
    // Every match must be hidden: wait on the first visible one until none is left.
    for (;;) {
      const visibles = locator.filter({ visible: true });
      if ((await visibles.count()) === 0) return;
      await visibles.first().waitFor({ state: "hidden", timeout: Math.max(1, deadline - Date.now()) });
    }
  });
}

/** Waits until an element matching has text matching `text` (a RegExp, or a case-insensitive substring) and is visible. */
export function expectText(locator, text, { timeout = DEFAULT_TIMEOUT, what, state = "visible" } = {}) {
  const re = text instanceof RegExp ? text : containing(text);
  return wrap(what || `text ${re}`, locator, () => locator.filter({ hasText: re }).first().waitFor({ state, timeout }));
}

/** Waits until exactly n elements match (attached, visible or not). */
export function expectCount(locator, n, { timeout = DEFAULT_TIMEOUT, what } = {}) {
  return wrap(what || `exactly ${n} element(s)`, locator, async () => {
    const deadline = Date.now() + timeout;
    if (n > 0) await locator.nth(n - 1).waitFor({ state: "attached", timeout });
    await locator.nth(n).waitFor({ state: "detached", timeout: Math.max(1, deadline - Date.now()) });
  });
}

/** Waits until at least n elements match. */
export function expectAtLeast(locator, n, { timeout = DEFAULT_TIMEOUT, what } = {}) {
  return wrap(what || `at least ${n} element(s)`, locator, () => locator.nth(n - 1).waitFor({ state: "attached", timeout }));
}

/** Waits until the (first) element has attribute `name` equal to `value`. */
export function expectAttr(locator, name, value, { timeout = DEFAULT_TIMEOUT, what } = {}) {
  const sel = `[${name}="${String(value).replace(/"/g, '\\"')}"]`;
  return wrap(what || `${name}="${value}"`, locator, () => locator.and(locator.page().locator(sel)).first().waitFor({ state: "attached", timeout }));
}
