// One device: its status, battery and signal, latest values, a chart per metric over a chosen
// range (raw points for short ranges, server-side aggregates for long ones; drag to zoom),
// the status timeline, KPIs and alerts.

import { api, Features, qs } from "../api";
import { lineChart, Series } from "../chart";
import { clear, fmtAgo, fmtNumber, fmtTime, h, kvGrid, message, statusBadge, throttle } from "../dom";
import { subscribe } from "../live";
import { alertRow } from "./alerts";

const RANGES: [string, number][] = [["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3]];
const RAW_LIMIT_MS = 6 * 3600e3;  // longer ranges use aggregates
const TARGET_POINTS = 400;
const INTERVALS = [["1m", 60e3], ["5m", 300e3], ["15m", 900e3], ["1h", 3600e3], ["6h", 21600e3], ["1d", 86400e3]] as const;

export function deviceView(root: HTMLElement, id: string, features: Features): () => void {
  const header = h("section", { class: "device-head", id: "device-head" });
  const latest = h("section", { class: "cards", id: "latest" });
  const rangeBar = h("div", { class: "ranges" });
  const charts = h("section", { class: "charts", id: "charts" });
  const timeline = h("section", { class: "panel" }, h("h2", {}, "Status timeline"));
  const kpis = h("section", { class: "panel" }, h("h2", {}, "KPIs (24 h)"));
  const alerts = h("section", { class: "panel" }, h("h2", {}, "Alerts"));
  root.append(h("p", {}, h("a", { href: "#/devices" }, "‹ Devices")), header, latest, h("h2", {}, "Metrics"), rangeBar, charts, timeline);
  if (features.deviceKpis) root.append(kpis);
  if (features.alerts) root.append(alerts);

  let range = { label: "24h", from: Date.now() - 86400e3, to: Date.now() };
  let metrics: string[] = [];
  const enc = encodeURIComponent(id);

  for (const [label, ms] of RANGES)
    rangeBar.append(h("button", { "data-range": label, onclick: () => { range = { label, from: Date.now() - ms, to: Date.now() }; loadCharts(); } }, label));

  function showHeader(d: any): void {
    clear(header);
    header.append(
      h("h1", {}, d.device_id, " ", statusBadge(d.status)),
      h("p", { class: "muted" }, [d.name, d.type, d.location].filter(Boolean).join(" · "), d.status_reason ? ` — ${d.status_reason}` : ""),
      h("div", { class: "facts" },
        fact("last seen", fmtAgo(d.last_seen), fmtTime(d.last_seen)),
        fact("battery", d.battery_level == null ? "–" : fmtNumber(d.battery_level, 0) + " %"),
        fact("signal", d.signal_strength == null ? "–" : fmtNumber(d.signal_strength, 0) + " dBm"),
        fact("report interval", d.report_interval_ms ? fmtNumber(d.report_interval_ms / 1000, 1) + " s" : "–"),
        d.geo ? fact("position", `${d.geo.lat.toFixed(4)}, ${d.geo.lon.toFixed(4)}`) : null,
      ),
    );
  }

  async function loadDevice(): Promise<void> {
    const [d, l] = await Promise.all([api("/api/v1/devices/" + enc), api("/api/v1/devices/" + enc + "/latest")]);
    showHeader(d);
    clear(latest);
    const names = Object.keys(l.values ?? {}).sort();
    for (const m of names) {
      const v = l.values[m];
      latest.append(h("div", { class: "card" }, h("div", { class: "value" }, fmtNumber(v.value)), h("div", { class: "label" }, m), h("div", { class: "muted small" }, fmtAgo(v.ts))));
    }
    if (!names.length) latest.append(message("No telemetry yet."));
    if (names.join() !== metrics.join()) {
      metrics = names;
      loadCharts();
    }
  }

  async function seriesFor(metric: string): Promise<Series> {
    const span = range.to - range.from;
    const bounds = { metric, start: new Date(range.from).toISOString(), end: new Date(range.to).toISOString() };
    if (span <= RAW_LIMIT_MS) {
      const res = await api(`/api/v1/devices/${enc}/telemetry` + qs({ ...bounds, limit: 20000, order: "asc" }));
      return { ts: res.points.map((p: any) => Date.parse(p.ts) / 1000), values: res.points.map((p: any) => p.value) };
    }
    const interval = INTERVALS.find(([, ms]) => span / ms <= TARGET_POINTS) ?? INTERVALS[INTERVALS.length - 1];
    const res = await api(`/api/v1/devices/${enc}/aggregates` + qs({ ...bounds, interval: interval[0], agg: "avg,min,max" }));
    return {
      ts: res.buckets.map((b: any) => Date.parse(b.ts) / 1000),
      values: res.buckets.map((b: any) => b.avg),
      min: res.buckets.map((b: any) => b.min),
      max: res.buckets.map((b: any) => b.max),
    };
  }

  let chartSeq = 0;
  async function loadCharts(): Promise<void> {
    const mine = ++chartSeq;
    for (const b of rangeBar.querySelectorAll("button")) b.classList.toggle("active", b.dataset.range === range.label);
    const data = await Promise.all(metrics.map((m) => seriesFor(m).catch(() => null)));
    if (mine !== chartSeq) return;
    clear(charts);
    metrics.forEach((m, i) => {
      const box = h("div", { class: "chart", "data-metric": m, "data-points": data[i]?.ts.length ?? 0, "data-source": data[i]?.min ? "aggregates" : "raw" });
      charts.append(box);
      const s = data[i];
      if (!s || !s.ts.length) {
        box.append(h("div", { class: "muted" }, `${m}: no data in this range`));
        return;
      }
      lineChart(box, m, s, (from, to) => { range = { label: "zoom", from, to }; loadCharts(); },
        () => { range = { label: "24h", from: Date.now() - 86400e3, to: Date.now() }; loadCharts(); });
    });
    loadTimeline().catch(() => {});
  }

  async function loadTimeline(): Promise<void> {
    const res = await api(`/api/v1/devices/${enc}/status-history` + qs({ limit: 1000 }));
    timeline.querySelector(".timeline-box")?.remove();
    const box = h("div", { class: "timeline-box" });
    const bar = h("div", { class: "timeline", id: "timeline" });
    const list = h("ul", { class: "transitions" });
    const from = range.from, to = Date.now();
    const tr: any[] = res.transitions ?? [];
    // The state at `from` is the `to` of the last transition before it.
    let state = "unknown", at = from;
    for (const t of tr) if (Date.parse(t.ts) <= from) state = t.to;
    for (const t of tr) {
      const ts = Date.parse(t.ts);
      if (ts <= from) continue;
      bar.append(h("div", { class: "seg s-" + state, style: `flex:${Math.max(ts - at, 0)}`, title: `${state} until ${fmtTime(t.ts)}` }));
      state = t.to;
      at = ts;
    }
    bar.append(h("div", { class: "seg s-" + state, style: `flex:${Math.max(to - at, 1)}`, title: `${state} now` }));
    for (const t of tr.slice(-8).reverse()) list.append(h("li", {}, fmtTime(t.ts), " ", statusBadge(t.from), " → ", statusBadge(t.to), t.reason ? h("span", { class: "muted" }, " " + t.reason) : null));
    box.append(bar, list);
    timeline.append(box);
  }

  async function loadKpis(): Promise<void> {
    if (!features.deviceKpis) return;
    const res = await api(`/api/v1/devices/${enc}/kpis?window=24h`);
    kpis.querySelector(".kv")?.remove();
    kpis.append(kvGrid(res));
  }

  async function loadAlerts(): Promise<void> {
    if (!features.alerts) return;
    const res = await api(`/api/v1/alerts` + qs({ device_id: id, limit: 20 }));
    alerts.querySelector("table, .muted")?.remove();
    const table = h("table", { class: "list" });
    for (const a of res.alerts ?? []) table.append(alertRow(a, features, loadAlerts, false));
    alerts.append((res.alerts ?? []).length ? table : message("No alerts for this device."));
  }

  const refreshAlerts = throttle(() => loadAlerts().catch(() => {}), 1000);
  const loadAll = () => Promise.all([loadDevice(), loadKpis().catch(() => {}), loadAlerts().catch(() => {})]);
  loadAll().catch((e) => root.append(message(e.message, "error")));
  return subscribe((e) => {
    if (e.kind === "status" && e.data.device_id === id) {
      const badge = header.querySelector("h1 .badge");
      badge?.replaceWith(statusBadge(e.data.to));
      loadDevice().catch(() => {});
      loadTimeline().catch(() => {});
    } else if (e.kind === "alert" && e.data.device_id === id) {
      refreshAlerts();
    } else if (e.kind === "tick") {
      loadDevice().catch(() => {});
      if (range.label !== "zoom") {
        const r = RANGES.find(([l]) => l === range.label);
        if (r) range = { label: r[0], from: Date.now() - r[1], to: Date.now() };
      }
    }
  });
}

function fact(label: string, value: string, title?: string): HTMLElement {
  return h("div", { class: "fact", title }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}
