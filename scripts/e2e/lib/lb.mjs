// A tiny TCP load balancer in front of the hubs (node:net). Each new
// connection goes to the first upstream in the list that accepts a TCP
// connection; on a refused (or failed) connect it falls through to the next.
// cut() destroys every open connection and destroys new ones until
// restore(): a customer's network drop, or the path to a dead instance.
import net from "node:net";

export class LoadBalancer {
  /** upstreams: ports (numbers) on 127.0.0.1, in order of preference. */
  constructor(upstreams) {
    this.upstreams = upstreams.slice();
    this.conns = new Set(); // every open socket, both sides
    this.isCut = false;
    this.log = []; // "<time> <client port> -> <upstream port>" per forwarded connection
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  accept(client) {
    client.on("error", () => {});
    if (this.isCut) {
      client.destroy();
      return;
    }
    this.conns.add(client);
    client.once("close", () => this.conns.delete(client));
    client.pause();
    this.connect(client, 0);
  }

  connect(client, i) {
    if (client.destroyed) return;
    if (i >= this.upstreams.length) {
      client.destroy(); // nothing accepts: like a refused connection to the client
      return;
    }
    const port = this.upstreams[i];
    const up = net.connect({ port, host: "127.0.0.1" });
    let connected = false;
    up.setTimeout(2000, () => { if (!connected) up.destroy(new Error("connect timeout")); });
    up.once("connect", () => {
      connected = true;
      up.setTimeout(0);
      if (this.isCut || client.destroyed) {
        up.destroy();
        client.destroy();
        return;
      }
      this.log.push(`${new Date().toISOString()} ${client.remotePort} -> ${port}`);
      this.conns.add(up);
      up.once("close", () => { this.conns.delete(up); client.destroy(); });
      client.once("close", () => up.destroy());
      up.on("error", () => client.destroy());
      client.on("error", () => up.destroy());
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.once("error", (err) => {
      if (!connected) this.connect(client, i + 1); // ECONNREFUSED and the like: the next one
    });
  }

  /** Destroys every open connection, and every new one until restore(). */
  cut() {
    this.isCut = true;
    for (const s of this.conns) s.destroy();
    this.conns.clear();
  }

  restore() {
    this.isCut = false;
  }

  /** Replaces the upstream list (ports, in order of preference). */
  setUpstreams(upstreams) {
    this.upstreams = upstreams.slice();
  }

  async close() {
    this.cut();
    await new Promise((r) => this.server.close(() => r()));
  }
}

export async function startLB(upstreams) {
  return new LoadBalancer(upstreams).listen();
}
