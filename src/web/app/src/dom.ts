// Small DOM and formatting helpers shared by the views.

type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      e.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k === "class") {
      e.className = String(v);
    } else if (k === "value" && "value" in e) {
      (e as HTMLInputElement).value = String(v);
    } else if (v === true) {
      e.setAttribute(k, "");
    } else {
      e.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "number" ? String(c) : c);
  }
  return e;
}

export function clear(e: Element): void {
  while (e.firstChild) e.removeChild(e.firstChild);
}

// Counts and rates for cards: 12 345 → "12.3 k"; small numbers rounded to `digits` at most.
export function fmtNumber(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1e9) return (v / 1e9).toFixed(1) + " G";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + " M";
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + " k";
  return v.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function fmtBytes(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return v.toFixed(i ? 1 : 0) + " " + units[i];
}

export function fmtAgo(ts: string | null | undefined): string {
  if (!ts) return "never";
  const s = (Date.now() - Date.parse(ts)) / 1000;
  if (s < 0) return "just now";
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

export function fmtTime(ts: string | null | undefined): string {
  if (!ts) return "–";
  return new Date(ts).toLocaleString();
}

// A visually hidden text for screen readers.
export function srOnly(text: string): HTMLElement {
  return h("span", { class: "sr-only" }, text);
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: "badge s-" + status, "data-status": status }, status.replace("_", " "));
}

// Renders any flat-ish JSON object as a definition grid (for KPI shapes we do not fix).
export function kvGrid(obj: Record<string, unknown>): HTMLElement {
  const grid = h("dl", { class: "kv" });
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === "object") {
      grid.append(h("dt", {}, k), h("dd", {}, kvGrid(v as Record<string, unknown>)));
    } else {
      grid.append(h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, typeof v === "number" ? fmtNumber(v) : String(v ?? "–")));
    }
  }
  return grid;
}

export function message(text: string, cls = "muted"): HTMLElement {
  return h("p", { class: cls }, text);
}

// Calls `fn` at most once per `ms`: the first call runs at once, later ones within the window
// are folded into one run at its end.
export function throttle(fn: () => void, ms: number): () => void {
  let last = 0;
  let timer: number | undefined;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (timer === undefined) {
      timer = window.setTimeout(() => {
        timer = undefined;
        last = Date.now();
        fn();
      }, wait);
    }
  };
}
