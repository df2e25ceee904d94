// A customer's web site: a static "Acme Shop" page on its own origin
// (127.0.0.1:<port>, a different origin from every hub), embedding the
// widget. The page for a given hub (or load balancer) is
//   shop.pageUrl("http://127.0.0.1:<port>")  ->  http://127.0.0.1:<shop port>/?hub=<that URL>
// and carries <script src="<hub>/widget.js" data-title="Acme support" data-color="#0a7d5a" async>;
//   shop.pageUrl(hub, { tenant: "acme" })    ->  …&tenant=acme
// adds data-tenant="acme" to that tag (the widget of one tenant of the hub).
import http from "node:http";

export const WIDGET_TITLE = "Acme support";
export const WIDGET_COLOR = "#0a7d5a";

const esc = (s) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

export function shopPage(hub, { tenant = "", offline = "" } = {}) {
  const tenantAttr = (tenant ? ` data-tenant="${esc(tenant)}"` : "") + (offline ? ` data-offline-form="${esc(offline)}"` : "");
  const script = hub
    ? `<script src="${esc(hub)}/widget.js" data-title="${WIDGET_TITLE}" data-color="${WIDGET_COLOR}"${tenantAttr} async></script>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #222; background: #fafaf7; }
header { background: #1f3b2d; color: #fff; padding: 1rem 1.5rem; }
main { padding: 1.5rem; max-width: 40rem; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
</style>
</head>
<body>
<header><h1>Acme Shop</h1></header>
<main>
<div class="card"><h2>Trail shoes</h2><p>Light, grippy, waterproof. 89 EUR.</p></div>
<div class="card"><h2>Rain jacket</h2><p>Packs into its own pocket. 129 EUR.</p></div>
<p>Questions about an order? Use the chat button.</p>
</main>
${script}
</body>
</html>
`;
}

export class Shop {
  constructor() {
    this.requests = [];
    this.server = http.createServer((req, res) => {
      const u = new URL(req.url, "http://x");
      this.requests.push(`${req.method} ${req.url}`);
      if (u.pathname !== "/") {
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("not found\n");
        return;
      }
      const hub = u.searchParams.get("hub") || "";
      if (hub && !/^http:\/\/127\.0\.0\.1:\d+$/.test(hub)) {
        res.writeHead(400, { "Content-Type": "text/plain" });
        res.end("hub must be http://127.0.0.1:<port>\n");
        return;
      }
      const tenant = u.searchParams.get("tenant") || "";
      if (tenant && !/^[a-z0-9-]{1,32}$/.test(tenant)) {
        res.writeHead(400, { "Content-Type": "text/plain" });
        res.end("tenant must be a tenant id (a-z, 0-9, -)\n");
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      const offline = u.searchParams.get("offline") === "never" ? "never" : "";
      res.end(shopPage(hub, { tenant, offline }));
    });
    this.server.keepAliveTimeout = 1000;
  }

  async listen(port = 0) {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    this.host = `127.0.0.1:${this.port}`;
    return this;
  }

  /** The shop's page embedding the widget from hubUrl (a hub or an LB), of `tenant` when given. */
  pageUrl(hubUrl, { tenant = "", offline = "" } = {}) {
    const t = (tenant ? `&tenant=${encodeURIComponent(tenant)}` : "") + (offline ? `&offline=${encodeURIComponent(offline)}` : "");
    return `${this.origin}/?hub=${encodeURIComponent(hubUrl)}${t}`;
  }

  async close() {
    this.server.closeAllConnections?.();
    await new Promise((r) => this.server.close(() => r()));
  }
}

export async function startShop(port) {
  return new Shop().listen(port);
}
