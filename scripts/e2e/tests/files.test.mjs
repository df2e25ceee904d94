// Attachments: the customer (hub A) sends an image and a PDF from the
// widget; Bo (hub B) sees the image preview and the PDF card, and
// downloads the PDF's very bytes; an .exe renamed .png is refused with a
// clear error. It writes docs/screenshots/file-in-chat.png.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Env } from "../lib/env.mjs";
import { Widget, Desk, establishChat } from "../lib/pages.mjs";
import { expectVisible, expectText } from "../lib/expect.mjs";
import { screenshotPath } from "../lib/util.mjs";

const env = new Env("files");
before(() => env.start());
after(() => env.teardown());

// A 120x80 PNG (a red and yellow checkerboard), and a small PDF.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAHgAAABQCAIAAABd+SbeAAAAsElEQVR42u3bsQkAMAwDsNzUOf/TI3pJp/6QoQQi8G7QahwnVzl3ZznTegM0aNCgQYMGDRo0aNCgQYMGDRo0aNCgQYMGDRo06KbQsP70ggYNGjRo0KBBgwYNGjRo0KBBgwYNGjRo0KBBgwbdFRqWFRw0aNCgQYMGDRo0aNCgQYMGDRo0aNCgQYMGDRq0nyEsKzho0KBBgwYNGjRo0KBBgwYNGjRo0KBBgwYNGjTosdAPotyJlMdGQ98AAAAASUVORK5CYII=", "base64");
const PDF = Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");

env.test("the customer sends an image and a PDF; Bo on the other hub sees and downloads them", async () => {
  const [A, B] = env.hubs;
  const bo = await env.browser.party("agent-bo");
  const desk = new Desk(bo.page, B.url);
  await desk.login(env.seeded.agents.bo);
  const cust = await env.browser.party("customer", { viewport: { width: 420, height: 760 } });
  await cust.page.goto(env.shop.pageUrl(A.url));
  const w = new Widget(cust.page);
  await establishChat(w, desk, { agentName: "Bo Chen" });

  const input = cust.page.locator("[data-testid=sb-file-input]");
  await input.setInputFiles({ name: "parcel.png", mimeType: "image/png", buffer: PNG });
  await input.setInputFiles({ name: "receipt.pdf", mimeType: "application/pdf", buffer: PDF });
  await expectVisible(cust.page.locator("[data-testid=sb-file-img]"), { what: "the image in the customer's own chat" });

  const img = bo.page.locator("[data-testid=file-img]");
  await expectVisible(img, { what: "the image preview on Bo's desktop" });
  await bo.page.waitForFunction(() => {
    const i = document.querySelector("[data-testid=file-img]");
    return i && i.complete && i.naturalWidth === 120;
  }, null, { timeout: 10_000 });
  const card = bo.page.locator("[data-testid=file]", { hasText: "receipt.pdf" });
  await expectText(card, /application\/pdf/, { what: "the PDF card on Bo's desktop" });
  const [download] = await Promise.all([bo.page.waitForEvent("download"), card.getByRole("button", { name: "Download", exact: true }).click()]);
  const got = await readFile(await download.path());
  assert.ok(got.equals(PDF), `Bo downloaded the same bytes (${got.length} of ${PDF.length})`);

  // An .exe renamed .png: refused, said clearly, nothing in the chat.
  await input.setInputFiles({ name: "funny.png", mimeType: "image/png", buffer: Buffer.concat([Buffer.from("MZ\x90\x00"), Buffer.alloc(64)]) });
  await expectText(w.error, /funny\.png: file type not allowed: application\/octet-stream/, { what: "the widget to refuse the .exe" });
  await bo.page.waitForFunction(() => [...document.querySelectorAll("[data-testid=file-img]")].every((i) => i.complete && i.naturalWidth > 0),
    null, { timeout: 10_000 });
  await bo.page.screenshot({ path: screenshotPath("file-in-chat.png") });
});
