// Talking to the fleetpulse API: the stored API key (sent as Bearer), a prompt for one when
// the server answers 401, errors as exceptions with the server's message, and the features
// this server offers (read from the OpenAPI document, which lists only registered routes).

const KEY_STORAGE = "fleetpulse.apiKey";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export function apiKey(): string {
  return localStorage.getItem(KEY_STORAGE) ?? "";
}

let keyPrompt: Promise<void> | null = null;

// Shows the key dialog once (concurrent 401s share it); resolves when a key was entered.
function askForKey(error: string): Promise<void> {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise<void>((resolve) => {
    const dialog = document.getElementById("key-dialog") as HTMLDialogElement;
    const input = document.getElementById("key-input") as HTMLInputElement;
    (document.getElementById("key-error") as HTMLElement).textContent = error;
    const form = document.getElementById("key-form") as HTMLFormElement;
    form.onsubmit = () => {
      localStorage.setItem(KEY_STORAGE, input.value.trim());
      keyPrompt = null;
      resolve();
    };
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return keyPrompt;
}

export async function api<T = any>(path: string, init: RequestInit = {}): Promise<T> {
  for (;;) {
    const headers = new Headers(init.headers);
    const key = apiKey();
    if (key) headers.set("Authorization", "Bearer " + key);
    if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    const res = await fetch(path, { ...init, headers });
    if (res.status === 401) {
      await askForKey(key ? "That key was not accepted." : "");
      continue;
    }
    const text = await res.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
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
  };
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? "?" + s : "";
}

// A URL the browser downloads by itself (a plain link): the key goes as ?api_key=, which the
// server accepts for every route, because a link cannot carry an Authorization header.
export function downloadUrl(path: string, params: Record<string, string | number | undefined | null>): string {
  return path + qs({ ...params, api_key: apiKey() || undefined });
}
