// Fleet overview: devices by status, ingest rate, storage figures, open alerts and the newest
// of them, the last 24 h (ingest rate, devices by status, open alerts) as the server sampled
// them, the fleet KPI summary with human names, and in cluster mode the cluster card.

import { api, Features } from "../api";
import { multiChart, sparkline } from "../chart";
import { clear, fmtBytes, fmtNumber, h, kvGrid, message, statusBadge, throttle } from "../dom";
import { fmtDuration, fmtValue, KPI_FIELDS } from "../format";
import { typeTrends } from "../kpi_trends";
import { subscribe } from "../live";
import { alertRow } from "./alerts";
import { loadClusterCard } from "./cluster";

const rateHistory: { ts: number[]; values: number[] } = { ts: [], values: [] };
const HISTORY_REFRESH_MS = 60e3;
const CLUSTER_REFRESH_MS = 5e3;

export function overviewView(root: HTMLElement, features: Features): () => void {
  const cards = h("section", { class: "cards", id: "status-cards", "aria-label": "fleet figures" });
  const bar = h("div", { class: "status-bar", id: "status-bar", role: "img" });
  const history = h("section", { class: "panel", id: "history" }, h("h2", {}, "Last 24 hours"));
  const rateBox = h("div", { class: "spark" });
  const recent = h("section", { class: "panel" }, h("h2", {}, "Recent alerts"));
  const kpis = h("section", { class: "panel" }, h("h2", {}, "Fleet KPIs (24 h)"));
  const trends = h("section", { class: "panel", id: "kpi-trends" }, h("h2", {}, "KPI trends"));
  // In cluster mode only: placed under the status bar once GET /api/v1/cluster says "cluster".
  const cluster = h("section", { class: "panel", id: "cluster-card", "aria-label": "cluster" });
  root.append(h("h1", {}, "Fleet overview"), cards, bar);
  if (features.history) root.append(history);
  else root.append(h("section", { class: "panel" }, h("h2", {}, "Ingest rate (since this page opened)"), rateBox));
  if (features.recentAlerts || features.alerts) root.append(recent);
  if (features.kpis) root.append(kpis, trends);

  let spark: ReturnType<typeof sparkline> | null = null;

  function showStats(s: any): void {
    clear(cards);
    const d = s.devices ?? {};
    const card = (label: string, value: string, cls = "", href?: string, title?: string) =>
      h(href ? "a" : "div", { class: "card " + cls, href, title }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
    cards.append(
      card("devices", fmtNumber(d.total ?? 0), "", "#/devices"),
      card("online", fmtNumber(d.online ?? 0), "s-online", "#/devices?status=online"),
      card("at risk", fmtNumber(d.at_risk ?? 0), "s-at_risk", "#/devices?status=at_risk"),
      card("offline", fmtNumber(d.offline ?? 0), "s-offline", "#/devices?status=offline"),
      card("ingest / s", fmtNumber(s.ingest_rate_per_s ?? 0, 1), "", undefined, "heartbeats and points per second, last 10 s"),
      card("points stored", fmtNumber(s.points_stored ?? 0)),
      card("series", fmtNumber(s.series ?? 0)),
      card("open alerts", fmtNumber(s.open_alerts ?? 0), s.open_alerts ? "s-offline" : "", features.alerts ? "#/alerts" : undefined),
      card("disk", fmtBytes(s.disk_bytes)),
      card("uptime", fmtDuration(s.uptime_s)),
    );
    clear(bar);
    const total = Math.max(1, d.total ?? 0);
    const parts: string[] = [];
    for (const st of ["online", "at_risk", "offline", "unknown"]) {
      const n = d[st] ?? 0;
      if (n) bar.append(h("div", { class: "seg s-" + st, style: `flex:${n / total}`, title: `${st.replace("_", " ")}: ${n}` }));
      parts.push(`${n} ${st.replace("_", " ")}`);
    }
    bar.setAttribute("aria-label", "Devices by status: " + parts.join(", "));
    if (features.history) return;
    rateHistory.ts.push(Date.now() / 1000);
    rateHistory.values.push(s.ingest_rate_per_s ?? 0);
    if (rateHistory.ts.length > 300) {
      rateHistory.ts.shift();
      rateHistory.values.shift();
    }
    if (!spark) spark = sparkline(rateBox, rateHistory.ts, rateHistory.values);
    else spark.setData([rateHistory.ts, rateHistory.values]);
  }

  async function loadStats(): Promise<void> {
    showStats(await api("/api/v1/stats"));
  }

  let historyLoaded = 0;
  async function loadHistory(): Promise<void> {
    if (!features.history || Date.now() - historyLoaded < HISTORY_REFRESH_MS) return;
    historyLoaded = Date.now();
    const res = await api("/api/v1/stats/history?start=-24h");
    const samples: any[] = res.samples ?? [];
    history.querySelector(".history-grid, .muted")?.remove();
    // One sample is a dot, not a history: say when the charts will appear instead.
    if (samples.length < 2) {
      const when = samples.length ? "its second sample" : "its first samples";
      history.append(h("p", { class: "muted", id: "history-empty" },
        `No history to chart yet: the server samples the fleet every ${res.interval}; the charts appear with ${when}.`));
      historyLoaded = 0;  // look again at the next refresh
      return;
    }
    const ts = samples.map((s) => Date.parse(s.ts) / 1000);
    const grid = h("div", { class: "history-grid", "data-samples": samples.length });
    const box = (id: string, caption: string) => {
      const b = h("div", { class: "history-chart", id });
      grid.append(h("figure", {}, h("figcaption", {}, caption), b));
      return b;
    };
    history.append(grid);
    multiChart(box("history-rate", "Ingest rate (per second)"), "Ingest rate (per second)", ts,
      [{ label: "ingest / s", colorVar: "--accent", values: samples.map((s) => s.ingest_rate_per_s) }], (v) => fmtValue(v));
    multiChart(box("history-status", "Devices by status"), "Devices by status", ts, [
      { label: "online", colorVar: "--online", values: samples.map((s) => s.devices.online) },
      { label: "at risk", colorVar: "--at_risk", values: samples.map((s) => s.devices.at_risk) },
      { label: "offline", colorVar: "--offline", values: samples.map((s) => s.devices.offline) },
    ], (v) => fmtValue(v, 0));
    multiChart(box("history-alerts", "Open alerts"), "Open alerts", ts,
      [{ label: "open alerts", colorVar: "--offline", values: samples.map((s) => s.open_alerts) }], (v) => fmtValue(v, 0));
  }

  async function loadAlerts(): Promise<void> {
    if (!features.recentAlerts && !features.alerts) return;
    const path = features.recentAlerts ? "/api/v1/alerts/recent?limit=8" : "/api/v1/alerts?limit=8";
    const res = await api(path);
    recent.querySelector(".table-wrap")?.remove();
    const list = h("table", { class: "list", id: "recent-alerts" });
    for (const a of res.alerts ?? []) list.append(alertRow(a, features, loadAlerts));
    if (!(res.alerts ?? []).length) list.append(h("tr", {}, h("td", {}, "No alerts.")));
    recent.append(h("div", { class: "table-wrap" }, list));
  }

  async function loadKpis(): Promise<void> {
    if (!features.kpis) return;
    const res = await api("/api/v1/kpis/summary?window=24h&group_by=type");
    kpis.querySelector(".table-wrap, .kv, .muted")?.remove();
    if (res?.fleet && !res.fleet.devices)
      kpis.append(h("p", { class: "muted", id: "kpis-empty" }, "No devices yet: the fleet's KPIs appear once devices register or report."));
    else if (Array.isArray(res?.groups)) kpis.append(kpiTable([res.fleet, ...res.groups].filter(Boolean)));
    else kpis.append(res && typeof res === "object" ? kvGrid(res) : message("No KPIs yet."));
    const box = h("div", { class: "trends-box" });
    await typeTrends(box, features.kpiHistory);
    trends.querySelector(".trends-box")?.remove();
    trends.append(box);
  }

  // Refreshed on its own timer (the stream carries no cluster events); single-node mode stops it.
  let clusterMode = features.cluster;
  const loadCluster = async () => {
    if (clusterMode) clusterMode = await loadClusterCard(cluster, (c) => bar.after(c));
  };
  const clusterTimer = window.setInterval(() => loadCluster().catch(() => {}), CLUSTER_REFRESH_MS);
  const load = () =>
    Promise.all([loadStats(), loadAlerts(), loadKpis(), loadHistory(), loadCluster()]).catch((e) => console.warn("overview:", e.message));
  load();
  // A burst of status events (thousands of devices going offline at once) refreshes once.
  const refreshStats = throttle(() => loadStats().catch(() => {}), 1000);
  const refreshAlerts = throttle(() => loadAlerts().catch(() => {}), 1000);
  const unsubscribe = subscribe((e) => {
    if (e.kind === "stats") showStats(e.data);
    else if (e.kind === "alert") refreshAlerts();
    else if (e.kind === "tick") load();
    else if (e.kind === "status") refreshStats();
  });
  return () => {
    clearInterval(clusterTimer);
    unsubscribe();
  };
}

// One row per group (the fleet first): the figures an operator scans for, named in full with
// how each is computed in the column header's tooltip.
function kpiTable(rows: any[]): HTMLElement {
  const pick = (key: string) => KPI_FIELDS.find((f) => f.key === key)!;
  const cols: [string, string, (r: any) => string][] = [
    ["Group", "device type (the whole fleet first)", (r) => (r.key === "all" ? "whole fleet" : r.key || "(no type)")],
    ["Devices", "devices in the group", (r) => fmtNumber(r.devices)],
    ...["availability_pct", "mtbf_s", "mttr_s", "error_rate", "messages_per_min", "battery_drain_pct_per_day"].map(
      (k) => [pick(k).label, pick(k).how, (r: any) => pick(k).show(r)] as [string, string, (r: any) => string]),
  ];
  return h("div", { class: "table-wrap" },
    h("table", { class: "grid", id: "kpi-table" },
      h("thead", {}, h("tr", {}, ...cols.map(([label, how]) => h("th", { title: how, scope: "col" }, h("abbr", { title: how }, label))))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...cols.map(([, , cell]) => h("td", {}, cell(r))))))));
}

export { statusBadge };
