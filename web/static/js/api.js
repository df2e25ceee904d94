// api.js: the native REST API (docs/api.md) for the hub's pages.

// ApiError carries the hub's {"error":{"code","message"}} and the status.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// request calls the hub at base (its origin) with an optional bearer token
// and JSON body, and resolves with the decoded JSON answer.
export async function request(base, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(new URL(path, base), {
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

// Client is request bound to one hub and token.
export class Client {
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }
  get(path) {
    return request(this.base, "GET", path, { token: this.token });
  }
  post(path, body) {
    return request(this.base, "POST", path, { token: this.token, body });
  }
  put(path, body) {
    return request(this.base, "PUT", path, { token: this.token, body });
  }
  del(path) {
    return request(this.base, "DELETE", path, { token: this.token });
  }
}
