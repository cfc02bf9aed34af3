// The REST client: the access token lives in sessionStorage (this tab only), never in a cookie.

const TOKEN_KEY = "console.access_token";
const USER_KEY = "console.user";
const REFRESH_KEY = "console.refresh_token";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get user() {
    const raw = sessionStorage.getItem(USER_KEY);
    return raw ? JSON.parse(raw) : null;
  },
  get refreshToken() { return sessionStorage.getItem(REFRESH_KEY); },
  set(token, user, refreshToken) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
    if (refreshToken) sessionStorage.setItem(REFRESH_KEY, refreshToken);
    listeners.forEach((fn) => fn());
  },
  clear() {
    for (const key of [TOKEN_KEY, USER_KEY, REFRESH_KEY]) sessionStorage.removeItem(key);
    listeners.forEach((fn) => fn());
  },
  onChange(fn) { listeners.add(fn); },
};

let refreshing = null;

/** A new access token from the refresh token (one request at a time); false when that is not possible. */
function refreshAccess() {
  const refreshToken = session.refreshToken;
  if (!refreshToken) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = fetch("/api/auth/refresh", { method: "POST", headers: { Authorization: `Bearer ${refreshToken}` } })
      .then(async (resp) => {
        if (!resp.ok) return false;
        sessionStorage.setItem(TOKEN_KEY, (await resp.json()).access_token);
        return true;
      })
      .catch(() => false)
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Call the API; answers the parsed JSON (null for 204), throws ApiError with the envelope's message.
 * An expired access token is renewed once with the refresh token; if that fails the session ends. */
export async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "network_error", "the server cannot be reached");
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const error = (data && data.error) || {};
    if (resp.status === 401 && session.token && !path.startsWith("/api/auth/")) {
      if (!retried && await refreshAccess()) return api(method, path, body, true);
      session.clear();
    }
    throw new ApiError(resp.status, error.code || "error", error.message || `HTTP ${resp.status}`);
  }
  return data;
}

/** A WebSocket URL on this host, authenticated by the `token` query parameter (browsers cannot set headers). */
export function socketUrl(path, params = {}) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
  url.searchParams.set("token", session.token || "");
  return url.toString();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
