// Page objects for the contract the pages expose (see README.md): the
// customer widget (inside <switchboard-widget>'s open shadow root, which
// Playwright's locators pierce), the agent desktop /agent and the
// supervisor view /supervisor.
import assert from "node:assert/strict";
import { expectVisible, expectHidden, expectText, expectCount, expectAttr, exactly, describe } from "./expect.mjs";
import { WIDGET_TITLE } from "./shop.mjs";

/** The customer widget on a page that embeds it. */
export class Widget {
  constructor(page, { title = WIDGET_TITLE } = {}) {
    this.page = page;
    this.title = title;
  }

  get launcher() { return this.page.getByRole("button", { name: "Open chat", exact: true }); }
  get closer() { return this.page.getByRole("button", { name: "Close chat", exact: true }); }
  get panel() { return this.page.getByRole("dialog", { name: this.title, exact: true }); }
  get queue() { return this.page.locator("[data-testid=sb-queue]"); }
  get agent() { return this.page.locator("[data-testid=sb-agent]"); }
  get log() { return this.page.getByRole("log", { name: "Conversation", exact: true }); }
  get msgs() { return this.page.locator("li[data-testid=sb-msg]"); }
  get notes() { return this.page.locator("li[data-testid=sb-note]"); }
  get typing() { return this.page.locator("[data-testid=sb-typing]"); }
  get composer() { return this.page.getByLabel("Message", { exact: true }); }
  get sendButton() { return this.page.getByRole("button", { name: "Send", exact: true }); }
  get offline() { return this.page.locator("[data-testid=sb-offline]"); }
  get error() { return this.page.locator("[data-testid=sb-error]"); }
  get endButton() { return this.page.getByRole("button", { name: "End chat", exact: true }); }
  get rating() { return this.page.getByRole("group", { name: "Rate this conversation", exact: true }); }
  get rated() { return this.page.locator("[data-testid=sb-rated]"); }

  /** The messages (li) whose .sb-text is exactly `text`. */
  msg(text) {
    return this.msgs.filter({ has: this.page.locator(".sb-text", { hasText: exactly(text) }) });
  }

  /** Opens the panel with the launcher. */
  async open() {
    await expectVisible(this.launcher, { timeout: 15_000, what: 'the widget launcher "Open chat"' });
    await this.launcher.click();
    await expectVisible(this.panel, { what: `the widget dialog "${this.title}"` });
  }

  /** Fills the pre-chat form and starts the chat. */
  async startChat({ name, email = "", question = "" }) {
    await this.page.getByLabel("Name", { exact: true }).fill(name);
    if (email) await this.page.getByLabel("Email (optional)", { exact: true }).fill(email);
    if (question) await this.page.getByLabel("How can we help?", { exact: true }).fill(question);
    await this.page.getByRole("button", { name: "Start chat", exact: true }).click();
  }

  /** Types `text` in the composer and sends it (the Send button, or Enter). */
  async send(text, { enter = false } = {}) {
    await this.composer.fill(text);
    if (enter) await this.composer.press("Enter");
    else await this.sendButton.click();
  }

  /** Waits until the message with `text` shows once, with the given role. */
  async expectMsg(text, role, opts = {}) {
    const m = this.msg(text);
    await expectCount(m, 1, { what: `the widget to show the ${role} message ${JSON.stringify(text)} once`, ...opts });
    await expectAttr(m, "data-role", role, { what: `the widget's message ${JSON.stringify(text)} to have data-role=${role}` });
  }

  /** The texts of the chat messages, in order. */
  texts() {
    return this.msgs.locator(".sb-text").allTextContents();
  }
}

/** The agent desktop (/agent); the supervisor view (/supervisor) shares its login and chat pane. */
export class Desk {
  constructor(page, base) {
    this.page = page;
    this.base = base; // the hub URL the page is loaded from
  }

  get conn() { return this.page.locator("[data-testid=conn]"); }
  get statusSelect() { return this.page.getByLabel("Status", { exact: true }); }
  get myStatus() { return this.page.locator("[data-testid=my-status]"); }
  get offers() { return this.page.locator("[data-testid=offer]"); }
  offer(sessionId) { return sessionId ? this.page.locator(`[data-testid=offer][data-session="${sessionId}"]`) : this.offers.first(); }
  get sessionsList() { return this.page.getByRole("list", { name: "My sessions", exact: true }); }
  get sessionItems() { return this.page.locator("[data-testid=session-item]"); }
  sessionItem(id) { return this.page.locator(`[data-testid=session-item][data-session="${id}"]`); }
  get log() { return this.page.getByRole("log", { name: "Conversation", exact: true }); }
  get msgs() { return this.page.locator("li[data-testid=msg]"); }
  get notes() { return this.page.locator("li[data-testid=note]"); }
  get typing() { return this.page.locator("[data-testid=typing]"); }
  get composer() { return this.page.getByLabel("Message", { exact: true }); }
  get sendButton() { return this.page.getByRole("button", { name: "Send", exact: true }); }
  get closeButton() { return this.page.getByRole("button", { name: "Close chat", exact: true }); }
  get transferButton() { return this.page.getByRole("button", { name: "Transfer", exact: true }); }
  get customerPanel() { return this.page.getByRole("region", { name: "Customer", exact: true }).or(this.page.getByRole("complementary", { name: "Customer", exact: true })); }
  get customerName() { return this.page.locator("[data-testid=customer-name]"); }
  get toast() { return this.page.locator("[data-testid=toast]"); }

  msg(text) {
    return this.msgs.filter({ has: this.page.locator(".text", { hasText: exactly(text) }) });
  }

  /** Opens `path` (/agent or /supervisor) on the hub and signs in. */
  async login(agent, path = "/agent") {
    await this.page.goto(this.base + path);
    await this.page.getByLabel("Email", { exact: true }).fill(agent.email);
    await this.page.getByLabel("Password", { exact: true }).fill(agent.password);
    await this.page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expectAttr(this.conn, "data-state", "online", { timeout: 15_000, what: `${agent.name}'s ${path} to show [data-testid=conn][data-state=online] after signing in` });
  }

  /** Chooses a status in the "Status" select (by value or label, case-insensitively) and waits for my-status to show it. */
  async setStatus(status) {
    await expectVisible(this.statusSelect, { what: 'the "Status" select' });
    const options = await this.statusSelect.locator("option").evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.label || o.textContent.trim(), disabled: o.disabled })));
    const want = status.toLowerCase();
    const opt = options.find((o) => o.value.toLowerCase() === want || o.label.toLowerCase() === want);
    assert.ok(opt, `the Status select has no option ${status}: ${JSON.stringify(options)}`);
    assert.ok(!opt.disabled, `the Status option ${status} is disabled: ${JSON.stringify(options)}`);
    await this.statusSelect.selectOption({ value: opt.value });
    await expectText(this.myStatus, new RegExp(status, "i"), { what: `[data-testid=my-status] to show ${status}` });
  }

  async send(text, { enter = false } = {}) {
    await this.composer.fill(text);
    if (enter) await this.composer.press("Enter");
    else await this.sendButton.click();
  }

  async expectMsg(text, role, opts = {}) {
    const m = this.msg(text);
    await expectCount(m, 1, { what: `the desktop to show the ${role} message ${JSON.stringify(text)} once`, ...opts });
    await expectAttr(m, "data-role", role, { what: `the desktop's message ${JSON.stringify(text)} to have data-role=${role}` });
  }

  /** Waits for the offer (of sessionId, or any), checks its countdown and customer name, accepts it; returns the session id. */
  async acceptOffer({ sessionId, customerName, timeout = 15_000 } = {}) {
    const offer = this.offer(sessionId);
    await expectVisible(offer, { timeout, what: `an offer${sessionId ? " of " + sessionId : ""} on the desktop` });
    const sid = await offer.getAttribute("data-session");
    assert.match(sid || "", /^cs_/, `the offer's data-session is a session id: ${await describe(offer)}`);
    if (customerName) await expectText(offer, customerName, { what: `the offer to show the customer's name ${customerName}` });
    await expectText(offer.locator("[data-testid=offer-countdown]"), /\d/, { what: "the offer's countdown to show seconds left" });
    await offer.getByRole("button", { name: "Accept", exact: true }).click();
    await expectHidden(this.offer(sid), { what: "the offer to go away once accepted" });
    return sid;
  }

  texts() {
    return this.msgs.locator(".text").allTextContents();
  }
}

/** Starts a chat from the widget and has the desk's agent (Available) accept it; returns the session id. */
export async function establishChat(widget, desk, { name = "Maria", question = "Where is my parcel?", agentName } = {}) {
  await widget.open();
  await widget.startChat({ name, question });
  const sid = await desk.acceptOffer({ customerName: name });
  await desk.sessionItem(sid).click(); // open it, should the desktop not have opened it itself
  if (agentName) await expectText(widget.agent, agentName, { what: `the widget to show the agent's name ${agentName}` });
  await expectVisible(desk.log, { what: "the desktop's conversation pane" });
  return sid;
}
