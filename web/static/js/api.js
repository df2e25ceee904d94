// api.js: the native REST API (docs/api.md) for the hub's pages.

// ApiError carries the hub's {"error":{"code","message"}} and the status.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// tenantURL resolves path against base and, when tenant is set, adds
// tenant=<tenant> to its query: how a page on a hub that serves many tenants
// names its own (docs/api.md, "Which tenant a request is for"). Without a
// tenant the URL is path resolved against base, unchanged.
export function tenantURL(path, base, tenant) {
  const u = new URL(path, base);
  if (tenant && !u.searchParams.has("tenant")) {
    u.search = (u.search ? u.search + "&" : "?") + "tenant=" + encodeURIComponent(tenant);
  }
  return u;
}

// request calls the hub at base (its origin) with an optional bearer token
// and JSON body, and resolves with the decoded JSON answer. tenant, when
// set, goes along as the tenant query parameter (tenantURL).
export async function request(base, method, path, { token, body, tenant } = {}) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(tenantURL(path, base, tenant), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", "cannot reach the hub");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error?.code || "http_" + res.status, data?.error?.message || res.statusText);
  }
  return data;
}

// Client is request bound to one hub, token and (optionally) tenant.
export class Client {
  constructor(base, token, tenant = "") {
    this.base = base;
    this.token = token;
    this.tenant = tenant;
  }
  get(path) {
    return request(this.base, "GET", path, { token: this.token, tenant: this.tenant });
  }
  post(path, body) {
    return request(this.base, "POST", path, { token: this.token, body, tenant: this.tenant });
  }
  put(path, body) {
    return request(this.base, "PUT", path, { token: this.token, body, tenant: this.tenant });
  }
  del(path) {
    return request(this.base, "DELETE", path, { token: this.token, tenant: this.tenant });
  }
}
