// Talking to the fleetpulse API. With auth on, the dashboard logs in once with an API key
// (POST /api/v1/session): the server answers with an HttpOnly, SameSite=Strict session cookie
// that the browser sends by itself (fetches, the live EventSource, export links) and a CSRF
// token that state-changing requests carry in X-CSRF-Token. The key itself is never stored.
// Errors come back as exceptions with the server's message; the features this server offers
// are read from the OpenAPI document (which lists only registered routes).

// Where an older dashboard kept the key: removed at start-up.
const LEGACY_KEY_STORAGE = "fleetpulse.apiKey";
// The session's CSRF token for this tab (not a credential on its own: the cookie is needed
// too). Read again from GET /api/v1/session when missing (a new tab).
const CSRF_STORAGE = "fleetpulse.csrf";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

try {
  localStorage.removeItem(LEGACY_KEY_STORAGE);
} catch {
  /* storage may be unavailable */
}

// The dashboard no longer holds an API key (the session cookie authenticates everything,
// the live stream included): always empty. Kept for callers that add `api_key` when set.
export function apiKey(): string {
  return "";
}

let csrfToken: string | null = sessionStorage.getItem(CSRF_STORAGE);

function rememberSession(body: any): void {
  csrfToken = typeof body?.csrf_token === "string" ? body.csrf_token : null;
  if (csrfToken) sessionStorage.setItem(CSRF_STORAGE, csrfToken);
  else sessionStorage.removeItem(CSRF_STORAGE);
}

// Exchanges `key` for a session cookie; false when the server refuses the key.
async function logIn(key: string): Promise<boolean> {
  const res = await fetch("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ api_key: key }),
    credentials: "same-origin",
  });
  if (!res.ok) return false;
  rememberSession(await res.json());
  return true;
}

let csrfAsked = false;  // GET /api/v1/session answered since the last 401 (auth off: no token)

// The CSRF token of the current session (asked for when this tab does not know it yet).
async function csrf(): Promise<string | null> {
  if (csrfToken || csrfAsked) return csrfToken;
  const res = await fetch("/api/v1/session", { credentials: "same-origin" });
  if (res.ok) {
    rememberSession(await res.json());
    csrfAsked = true;
  }
  return csrfToken;
}

// Ends the session (the cookie is cleared by the server).
export async function logOut(): Promise<void> {
  const token = await csrf();
  await fetch("/api/v1/session", {
    method: "DELETE",
    headers: token ? { "X-CSRF-Token": token } : {},
    credentials: "same-origin",
  });
  rememberSession(null);
}

let keyPrompt: Promise<void> | null = null;

// Shows the key dialog once (concurrent 401s share it); resolves once the key entered was
// accepted and the session cookie is set. A refused key keeps the dialog open with a message.
function askForKey(error: string): Promise<void> {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise<void>((resolve) => {
    const dialog = document.getElementById("key-dialog") as HTMLDialogElement;
    const input = document.getElementById("key-input") as HTMLInputElement;
    const message = document.getElementById("key-error") as HTMLElement;
    message.textContent = error;
    const form = document.getElementById("key-form") as HTMLFormElement;
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      logIn(key)
        .then((ok) => {
          if (!ok) {
            message.textContent = "That key was not accepted.";
            input.select();
            return;
          }
          input.value = "";
          dialog.close();
          keyPrompt = null;
          resolve();
        })
        .catch(() => {
          message.textContent = "The server could not be reached.";
        });
    };
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return keyPrompt;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export async function api<T = any>(path: string, init: RequestInit = {}): Promise<T> {
  let csrfRetried = false;
  for (;;) {
    const headers = new Headers(init.headers);
    if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    const method = (init.method ?? "GET").toUpperCase();
    if (!SAFE_METHODS.has(method)) {
      const token = await csrf();
      if (token) headers.set("X-CSRF-Token", token);
    }
    const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
    if (res.status === 401) {
      rememberSession(null);
      csrfAsked = false;
      await askForKey("");
      continue;
    }
    const text = await res.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    if (res.status === 403 && body?.error?.code === "csrf_token_invalid" && !csrfRetried) {
      csrfRetried = true;
      rememberSession(null);  // a stale token (a new session in another tab): fetch it again
      csrfAsked = false;
      continue;
    }
    if (!res.ok) {
      const err = body?.error;
      throw new ApiError(res.status, err?.code ?? "http_" + res.status, err?.message ?? res.statusText);
    }
    return body as T;
  }
}

export const post = <T = any>(path: string, body: unknown = {}) =>
  api<T>(path, { method: "POST", body: JSON.stringify(body) });

export interface Features {
  alerts: boolean;
  rules: boolean;
  kpis: boolean;
  deviceKpis: boolean;
  stream: boolean;
  recentAlerts: boolean;
  exports: boolean;
  history: boolean;       // GET /api/v1/stats/history: the overview's last 24 h
  kpiHistory: string | null;  // a KPI history route, once the server keeps one
  cluster: boolean;       // GET /api/v1/cluster: the overview's cluster card (cluster mode only)
}

export async function loadFeatures(): Promise<Features> {
  const doc = await fetch("/api/v1/openapi.json").then((r) => (r.ok ? r.json() : { paths: {} }));
  const has = (path: string, method = "get") => Boolean(doc.paths?.[path]?.[method]);
  return {
    alerts: has("/api/v1/alerts") && has("/api/v1/alerts/{id}/acknowledge", "post"),
    rules: has("/api/v1/rules") && has("/api/v1/rules", "post"),
    kpis: has("/api/v1/kpis/summary"),
    deviceKpis: has("/api/v1/devices/{id}/kpis"),
    stream: has("/api/v1/stream"),
    recentAlerts: has("/api/v1/alerts/recent"),
    exports: has("/api/v1/export"),
    history: has("/api/v1/stats/history"),
    kpiHistory: Object.keys(doc.paths ?? {}).find((p) => p.includes("kpis") && p.includes("history")) ?? null,
    cluster: has("/api/v1/cluster"),
  };
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? "?" + s : "";
}

// A URL the browser downloads by itself (a plain link): the session cookie goes with it, so
// the link carries no key.
export function downloadUrl(path: string, params: Record<string, string | number | undefined | null>): string {
  return path + qs(params);
}
