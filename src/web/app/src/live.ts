// Live updates: Server-Sent Events from /api/v1/stream when the server has it (status, alert,
// stats events), otherwise (or after the stream fails) polling: a "tick" every few seconds on
// which views fetch again. Views subscribe and get an unsubscribe function back.

import { apiKey } from "./api";

export type LiveEvent =
  | { kind: "status"; data: { device_id: string; from: string; to: string; reason?: string; at?: string } }
  | { kind: "alert"; data: any }
  | { kind: "stats"; data: any }
  | { kind: "telemetry"; data: { device_id: string; metric: string; ts: string; value: number } }
  | { kind: "tick" };

type Listener = (e: LiveEvent) => void;

const listeners = new Set<Listener>();
let mode: "stream" | "polling" = "polling";
let timer: number | undefined;
let source: EventSource | null = null;
let watched: string | null = null;  // the device whose points come as `telemetry` events

export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(e: LiveEvent): void {
  for (const fn of [...listeners]) {
    try {
      fn(e);
    } catch (err) {
      console.warn("live listener failed", err);
    }
  }
}

function setIndicator(): void {
  const el = document.getElementById("live");
  if (!el) return;
  el.className = "live " + mode;
  el.title = mode === "stream" ? "live: server-sent events" : "live: polling every 3 s";
  el.dataset.mode = mode;
}

function startPolling(periodMs: number): void {
  if (timer !== undefined) clearInterval(timer);
  timer = window.setInterval(() => emit({ kind: "tick" }), periodMs);
}

export function liveMode(): string {
  return mode;
}

let streamAvailable = false;

function openStream(): void {
  const key = apiKey();
  const params = new URLSearchParams();
  if (key) params.set("api_key", key);
  if (watched) params.set("device_id", watched);
  const query = params.toString();
  source = new EventSource("/api/v1/stream" + (query ? "?" + query : ""));
  mode = "stream";
  setIndicator();
  startPolling(15000);  // slow refresh of what events do not carry (latest values, charts)
  for (const kind of ["status", "alert", "stats", "telemetry"] as const) {
    source.addEventListener(kind, (ev) => {
      try {
        emit({ kind, data: JSON.parse((ev as MessageEvent).data) } as LiveEvent);
      } catch {
        /* a malformed event is ignored */
      }
    });
  }
  source.onerror = () => {
    // EventSource reconnects by itself unless the server refused (then it is CLOSED).
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      mode = "polling";
      setIndicator();
      startPolling(3000);
    }
  };
}

function stop(): void {
  source?.close();
  source = null;
  if (timer !== undefined) clearInterval(timer);
  timer = undefined;
}

function start(): void {
  if (streamAvailable) {
    openStream();
  } else {
    mode = "polling";
    setIndicator();
    startPolling(3000);
  }
}

export function startLive(withStream: boolean): void {
  streamAvailable = withStream;
  start();
  // A hidden tab lets go of its stream: browsers allow only six connections per server over
  // HTTP/1.1, and every open stream holds one. Coming back catches up at once.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      stop();
    } else if (!source && timer === undefined) {
      start();
      emit({ kind: "tick" });
    }
  });
}

// Asks the stream for the points of one device (null: none). Reopens the stream; in polling
// mode nothing changes (the views fetch again on ticks).
export function watchTelemetry(deviceId: string | null): void {
  if (watched === deviceId) return;
  watched = deviceId;
  if (source) {
    source.close();
    source = null;
    openStream();
  }
}
