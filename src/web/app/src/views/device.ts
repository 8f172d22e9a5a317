// One device: its status, battery and signal, latest values, its position and track, a chart
// per metric over a chosen range (raw points for short ranges, server-side aggregates for long
// ones; drag to zoom), export of the range, the status timeline, KPIs and alerts. A device
// that only sends heartbeats gets battery and signal charts from the series the server keeps of
// its heartbeats, and a status chart; KPI trends come from the server's KPI history.

import { api, Features, qs } from "../api";
import { describe, lineChart, Series } from "../chart";
import { clear, fmtAgo, fmtTime, h, message, statusBadge, throttle } from "../dom";
import { fmtCoord, fmtDuration, fmtMetric, KPI_FIELDS, metricInfo } from "../format";
import { subscribe, watchTelemetry } from "../live";
import { createMap, TrackLayer } from "../map";
import { alertRow } from "./alerts";
import { exportControls, stamp } from "./export";
import { deviceTrends } from "../kpi_trends";

const RANGES: [string, number][] = [["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3]];
const RAW_LIMIT_MS = 6 * 3600e3;  // longer ranges use aggregates
const TARGET_POINTS = 400;
const TRACK_LIMIT = 20000;
const INTERVALS = [["1m", 60e3], ["5m", 300e3], ["15m", 900e3], ["1h", 3600e3], ["6h", 21600e3], ["1d", 86400e3]] as const;
const LAT = ["lat", "latitude"];
const LON = ["lon", "lng", "longitude"];
const STATUS_LEVEL: Record<string, number> = { offline: 0, unknown: 0, at_risk: 1, online: 2 };
const HEARTBEAT_FIELDS = ["battery_level", "signal_strength"];

// Battery and signal seen from heartbeats while pages were open (until heartbeats are stored
// as series): per device, [ms, value] pairs, kept across views of this tab.
const heartbeatSeen = new Map<string, { battery: [number, number][]; signal: [number, number][] }>();

function noteHeartbeat(d: any): void {
  if (!d.last_seen) return;
  const at = Date.parse(d.last_seen);
  const seen = heartbeatSeen.get(d.device_id) ?? { battery: [], signal: [] };
  heartbeatSeen.set(d.device_id, seen);
  const add = (list: [number, number][], v: number | null | undefined) => {
    if (v == null || (list.length && list[list.length - 1][0] >= at)) return;
    list.push([at, v]);
    if (list.length > 5000) list.shift();
  };
  add(seen.battery, d.battery_level);
  add(seen.signal, d.signal_strength);
}

export function deviceView(root: HTMLElement, id: string, features: Features): () => void {
  const header = h("section", { class: "device-head", id: "device-head" });
  const latest = h("section", { class: "cards", id: "latest", "aria-label": "latest values" });
  const rangeBar = h("div", { class: "ranges", role: "group", "aria-label": "time range" });
  const charts = h("section", { class: "charts", id: "charts", "aria-label": "charts" });
  const position = h("section", { class: "panel", id: "position", hidden: true }, h("h2", {}, "Position"));
  const timeline = h("section", { class: "panel" }, h("h2", {}, "Status timeline"));
  const kpis = h("section", { class: "panel", id: "device-kpis" }, h("h2", {}, "KPIs (24 h)"));
  const trends = h("section", { class: "panel", id: "kpi-trends" }, h("h2", {}, "KPI trends"));
  const alerts = h("section", { class: "panel" }, h("h2", {}, "Alerts"));

  let range = { label: "24h", from: Date.now() - 86400e3, to: Date.now() };
  let metrics: string[] = [];
  let device: any = null;
  let firstLoad = true;
  const enc = encodeURIComponent(id);

  const exporter = features.exports
    ? exportControls("device-export", "Export this range", {
        params: () => ({ device_id: id, start: new Date(range.from).toISOString(), end: new Date(range.to).toISOString() }),
        name: () => `${id}_${stamp(range.from)}_${stamp(range.to)}`,
      })
    : null;
  root.append(h("p", {}, h("a", { href: "#/devices" }, "‹ Devices")), header, latest, position,
    h("div", { class: "section-bar" }, h("h2", {}, "Metrics"), rangeBar, exporter), charts, timeline);
  if (features.deviceKpis) root.append(kpis, trends);
  if (features.alerts) root.append(alerts);

  for (const [label, ms] of RANGES)
    rangeBar.append(h("button", { "data-range": label, "aria-pressed": "false", onclick: () => { range = { label, from: Date.now() - ms, to: Date.now() }; loadCharts(); } }, label));

  function showHeader(d: any): void {
    clear(header);
    const attrs = d.attributes ?? null;
    header.append(
      h("h1", {}, d.name || d.device_id, " ", statusBadge(d.status)),
      h("p", { class: "muted" }, [d.name ? d.device_id : null, d.type, d.location].filter(Boolean).join(" · "), d.status_reason ? ` — ${d.status_reason}` : ""),
      h("div", { class: "facts" },
        fact("last seen", fmtAgo(d.last_seen), fmtTime(d.last_seen)),
        fact("battery", fmtMetric("battery_level", d.battery_level, attrs)),
        fact("signal", fmtMetric("signal_strength", d.signal_strength, attrs)),
        fact("report interval", d.report_interval_ms ? fmtDuration(d.report_interval_ms / 1000) : "–"),
        d.geo ? fact("position", fmtCoord(d.geo.lat, d.geo.lon)) : null,
      ),
    );
  }

  async function loadDevice(): Promise<void> {
    const [d, l] = await Promise.all([api("/api/v1/devices/" + enc), api("/api/v1/devices/" + enc + "/latest")]);
    device = d;
    noteHeartbeat(d);
    showHeader(d);
    clear(latest);
    const names = Object.keys(l.values ?? {}).sort();
    for (const m of names) {
      const v = l.values[m];
      const info = metricInfo(m, d.attributes);
      latest.append(h("div", { class: "card", "data-latest": m, title: m },
        h("div", { class: "value" }, fmtMetric(m, v.value, d.attributes)),
        h("div", { class: "label" }, info.label),
        h("div", { class: "muted small" }, fmtAgo(v.ts))));
    }
    if (!names.length) latest.append(message(d.last_seen ? "No telemetry: this device only sends heartbeats." : "Nothing received yet."));
    else if (names.every((m) => HEARTBEAT_FIELDS.includes(m)))
      latest.append(message("No other telemetry: this device only sends heartbeats; its battery and signal are charted from them."));
    if (firstLoad || names.join() !== metrics.join()) {
      firstLoad = false;
      metrics = names;
      loadCharts();
    } else if (!metrics.length) {
      heartbeatCharts();  // new heartbeats extend them
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

  const zoom = (from: number, to: number) => { range = { label: "zoom", from, to }; loadCharts(); };
  const reset = () => { range = { label: "24h", from: Date.now() - 86400e3, to: Date.now() }; loadCharts(); };

  let chartSeq = 0;
  async function loadCharts(): Promise<void> {
    const mine = ++chartSeq;
    for (const b of rangeBar.querySelectorAll<HTMLElement>("button")) {
      b.classList.toggle("active", b.dataset.range === range.label);
      b.setAttribute("aria-pressed", String(b.dataset.range === range.label));
    }
    const data = await Promise.all(metrics.map((m) => seriesFor(m).catch(() => null)));
    if (mine !== chartSeq) return;
    clear(charts);
    metrics.forEach((m, i) => {
      const info = metricInfo(m, device?.attributes);
      const title = info.label + (info.unit ? ` (${info.unit})` : "");
      const box = h("div", { class: "chart", "data-metric": m, "data-points": data[i]?.ts.length ?? 0, "data-source": data[i]?.min ? "aggregates" : "raw" });
      charts.append(box);
      const s = data[i];
      if (!s || !s.ts.length) {
        box.append(h("div", { class: "muted" }, `${title}: no data in this range`));
        describe(box, title, []);
        return;
      }
      // A few points (a heartbeat-only device's battery) do not span the range: fix the axis.
      lineChart(box, title, s, zoom, reset, { format: (v) => fmtMetric(m, v, device?.attributes), xRange: s.ts.length < 3 ? [range.from, range.to] : undefined });
    });
    if (!metrics.length) heartbeatCharts();
    else if (metrics.every((m) => HEARTBEAT_FIELDS.includes(m))) statusChart().catch(() => {});
    loadTimeline().catch(() => {});
    loadTrack().catch(() => {});
  }

  // A device without telemetry: battery and signal from its heartbeats, status from the status
  // history, so the section is never empty.
  async function heartbeatCharts(): Promise<void> {
    if (!device) return;
    const history = await api(`/api/v1/devices/${enc}/status-history` + qs({ limit: 1000 })).catch(() => ({ transitions: [] }));
    if (metrics.length) return;
    clear(charts);
    if (!device.last_seen && !(history.transitions ?? []).length) {
      charts.append(h("p", { class: "muted", id: "charts-empty" }, "No charts yet: they appear with this device's first heartbeat or reading."));
      return;
    }
    const seen = heartbeatSeen.get(id) ?? { battery: [], signal: [] };
    const from = range.from;
    const pairs = (list: [number, number][]): Series => {
      const inRange = list.filter(([t]) => t >= from);
      return { ts: inRange.map(([t]) => t / 1000), values: inRange.map(([, v]) => v) };
    };
    const note = "From heartbeats: values received while the dashboard was open (this server keeps no series of them).";
    for (const [key, metric, list] of [["battery", "battery_level", seen.battery], ["signal", "signal_strength", seen.signal]] as const) {
      if (device[metric] == null && !list.length) continue;
      const info = metricInfo(metric, device.attributes);
      const title = `${info.label} (${info.unit})`;
      const box = h("div", { class: "chart", "data-metric": metric, "data-source": "heartbeats", "data-points": 0 });
      charts.append(box);
      const s = pairs(list);
      box.dataset.points = String(s.ts.length);
      if (s.ts.length) lineChart(box, title, s, zoom, reset, { format: (v) => fmtMetric(metric, v, device.attributes), step: true, xRange: [from, Date.now()] });
      else describe(box, title, [], (v) => fmtMetric(metric, v, device.attributes));
      box.append(h("p", { class: "muted small" }, note));
      box.title = key;
    }
    statusChart(history);
  }

  // Status as a staircase: 2 online, 1 at risk, 0 offline, from the transitions (for devices
  // that only send heartbeats, beside their battery and signal charts).
  async function statusChart(given?: any): Promise<void> {
    const history = given ?? await api(`/api/v1/devices/${enc}/status-history` + qs({ limit: 1000 }));
    if (!device || charts.querySelector('[data-metric="status"]')) return;
    const from = range.from;
    const tr: any[] = history.transitions ?? [];
    const ts: number[] = [], values: number[] = [];
    let state = "unknown";
    for (const t of tr) if (Date.parse(t.ts) <= from) state = t.to;
    ts.push(from / 1000);
    values.push(STATUS_LEVEL[state] ?? 0);
    for (const t of tr) {
      const at = Date.parse(t.ts);
      if (at <= from) continue;
      ts.push(at / 1000);
      values.push(STATUS_LEVEL[t.to] ?? 0);
    }
    ts.push(Date.now() / 1000);
    values.push(STATUS_LEVEL[device.status] ?? 0);
    const box = h("div", { class: "chart", "data-metric": "status", "data-source": "status-history", "data-points": ts.length });
    charts.append(box);
    const names = ["offline", "at risk", "online"];
    lineChart(box, "Status", { ts, values }, zoom, reset, { format: (v) => names[Math.round(v)] ?? "", step: true, levels: names, xRange: [from, Date.now()] });
  }

  // Moving devices: the path over the range from the lat/lon series, extended live.
  let track: TrackLayer | null = null;
  let trackMap: ReturnType<typeof createMap> | null = null;
  let pending: Record<string, { lat?: number; lon?: number }> = {};
  let trackSeq = 0;
  async function loadTrack(): Promise<void> {
    const mine = ++trackSeq;
    const lat = metrics.find((m) => LAT.includes(m.toLowerCase()));
    const lon = metrics.find((m) => LON.includes(m.toLowerCase()));
    if (!lat || !lon) {
      if (device?.geo && !trackMap) {
        showPosition();
        track!.set([[device.geo.lat, device.geo.lon]]);
      }
      return;
    }
    // The newest TRACK_LIMIT positions of the range (desc), drawn oldest first.
    const bounds = { start: new Date(range.from).toISOString(), end: new Date(range.to).toISOString(), limit: TRACK_LIMIT, order: "desc" };
    const [a, b] = await Promise.all([
      api(`/api/v1/devices/${enc}/telemetry` + qs({ ...bounds, metric: lat })),
      api(`/api/v1/devices/${enc}/telemetry` + qs({ ...bounds, metric: lon })),
    ]);
    a.points.reverse();
    if (mine !== trackSeq) return;  // a newer range was chosen meanwhile
    const lons = new Map<string, number>(b.points.map((p: any) => [p.ts, p.value]));
    const points: [number, number][] = [];
    for (const p of a.points) {
      const o = lons.get(p.ts);
      if (o !== undefined) points.push([p.value, o]);
    }
    showPosition();
    track!.set(points);
    position.dataset.range = range.label;  // which range the track shows (tests wait for it)
    const panelInfo = position.querySelector(".track-info") as HTMLElement;
    panelInfo.textContent = points.length
      ? `Track over the selected range: ${points.length} positions${a.points.length >= TRACK_LIMIT ? " (the latest " + TRACK_LIMIT + ")" : ""}; latest ${fmtCoord(points[points.length - 1][0], points[points.length - 1][1])}.`
      : "No positions in the selected range.";
    watchTelemetry(id);
  }

  function showPosition(): void {
    if (trackMap) return;
    position.hidden = false;
    const box = h("div", { class: "map track-map", id: "track-map" });
    position.append(box, h("p", { class: "muted small track-info", "aria-live": "polite" }));
    trackMap = createMap(box, `Map of ${id}'s positions`);
    track = new TrackLayer(trackMap);
  }

  function livePoint(p: { metric: string; ts: string; value: number }): void {
    if (!track || range.label === "zoom") return;
    const m = p.metric.toLowerCase();
    const isLat = LAT.includes(m), isLon = LON.includes(m);
    if (!isLat && !isLon) return;
    const slot = (pending[p.ts] ??= {});
    if (isLat) slot.lat = p.value;
    else slot.lon = p.value;
    if (slot.lat !== undefined && slot.lon !== undefined) {
      track.add(slot.lat, slot.lon);
      delete pending[p.ts];
    }
    if (Object.keys(pending).length > 100) pending = {};
  }

  async function loadTimeline(): Promise<void> {
    const res = await api(`/api/v1/devices/${enc}/status-history` + qs({ limit: 1000 }));
    timeline.querySelector(".timeline-box")?.remove();
    const box = h("div", { class: "timeline-box" });
    const bar = h("div", { class: "timeline", id: "timeline", role: "img" });
    const list = h("ul", { class: "transitions" });
    const from = range.from, to = Date.now();
    const tr: any[] = res.transitions ?? [];
    // The state at `from` is the `to` of the last transition before it.
    let state = "unknown", at = from;
    const spent: Record<string, number> = {};
    for (const t of tr) if (Date.parse(t.ts) <= from) state = t.to;
    for (const t of tr) {
      const ts = Date.parse(t.ts);
      if (ts <= from) continue;
      bar.append(h("div", { class: "seg s-" + state, style: `flex:${Math.max(ts - at, 0)}`, title: `${state} until ${fmtTime(t.ts)}` }));
      spent[state] = (spent[state] ?? 0) + Math.max(ts - at, 0);
      state = t.to;
      at = ts;
    }
    bar.append(h("div", { class: "seg s-" + state, style: `flex:${Math.max(to - at, 1)}`, title: `${state} now` }));
    spent[state] = (spent[state] ?? 0) + Math.max(to - at, 0);
    bar.setAttribute("aria-label", `Status over the selected range: ` +
      Object.entries(spent).map(([s, ms]) => `${s.replace("_", " ")} ${fmtDuration(ms / 1000)}`).join(", ") + `; now ${state.replace("_", " ")}.`);
    for (const t of tr.slice(-8).reverse()) list.append(h("li", {}, fmtTime(t.ts), " ", statusBadge(t.from), " → ", statusBadge(t.to), t.reason ? h("span", { class: "muted" }, " " + t.reason) : null));
    box.append(bar, list);
    timeline.append(box);
  }

  async function loadKpis(): Promise<void> {
    if (!features.deviceKpis) return;
    const res = await api(`/api/v1/devices/${enc}/kpis?window=24h`);
    if (!device) device = await api("/api/v1/devices/" + enc);
    kpis.querySelector(".kv, #device-kpis-empty")?.remove();
    // A device that never reported has no KPIs: "0.0 %" availability would read as a failure.
    if (!device.last_seen && !res.messages)
      kpis.append(h("p", { class: "muted", id: "device-kpis-empty" }, "No KPIs yet: this device has not reported since it was registered. They are measured from its heartbeats and readings."));
    else kpis.append(kpiList(res));
    await loadTrends();
  }

  let trendsLoading = false;
  async function loadTrends(): Promise<void> {
    if (trendsLoading) return;
    trendsLoading = true;
    const box = h("div", { class: "trends-box" });
    try {
      if (!device) device = await api("/api/v1/devices/" + enc);
      await deviceTrends(box, features.kpiHistory, id, device.type ?? "");
      trends.querySelector(".trends-box")?.remove();
      trends.append(box);
    } finally {
      trendsLoading = false;
    }
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
  const off = subscribe((e) => {
    if (e.kind === "status" && e.data.device_id === id) {
      const badge = header.querySelector("h1 .badge");
      badge?.replaceWith(statusBadge(e.data.to));
      loadDevice().catch(() => {});
      loadTimeline().catch(() => {});
    } else if (e.kind === "alert" && e.data.device_id === id) {
      refreshAlerts();
    } else if (e.kind === "telemetry" && e.data.device_id === id) {
      livePoint(e.data);
    } else if (e.kind === "tick") {
      loadDevice().catch(() => {});
      if (range.label !== "zoom") {
        const r = RANGES.find(([l]) => l === range.label);
        if (r) range = { label: r[0], from: Date.now() - r[1], to: Date.now() };
      }
    }
  });
  return () => {
    off();
    watchTelemetry(null);
    trackMap?.remove();
  };
}

// The KPIs with human names; each says how it is computed (title and a <dfn> for readers).
export function kpiList(k: any): HTMLElement {
  const grid = h("dl", { class: "kv" });
  for (const f of KPI_FIELDS) {
    if (!(f.key in k)) continue;
    grid.append(h("dt", { title: f.how }, h("abbr", { title: f.how }, f.label)), h("dd", { "data-kpi": f.key }, f.show(k)));
  }
  return grid;
}

function fact(label: string, value: string, title?: string): HTMLElement {
  return h("div", { class: "fact", title }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}
