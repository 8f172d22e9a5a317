// Fleet overview: devices by status, ingest rate (with a sparkline of the last minutes),
// storage figures, open alerts and the newest of them, and the fleet KPI summary.

import { api, Features } from "../api";
import { sparkline } from "../chart";
import { clear, fmtBytes, fmtNumber, h, kvGrid, message, statusBadge, throttle } from "../dom";
import { subscribe } from "../live";
import { alertRow } from "./alerts";

const rateHistory: { ts: number[]; values: number[] } = { ts: [], values: [] };

export function overviewView(root: HTMLElement, features: Features): () => void {
  const cards = h("section", { class: "cards", id: "status-cards" });
  const bar = h("div", { class: "status-bar", id: "status-bar" });
  const rateBox = h("div", { class: "spark" });
  const recent = h("section", { class: "panel" }, h("h2", {}, "Recent alerts"));
  const kpis = h("section", { class: "panel" }, h("h2", {}, "Fleet KPIs (24 h)"));
  root.append(h("h1", {}, "Fleet overview"), cards, bar, h("section", { class: "panel" }, h("h2", {}, "Ingest rate"), rateBox));
  if (features.recentAlerts || features.alerts) root.append(recent);
  if (features.kpis) root.append(kpis);

  let spark: ReturnType<typeof sparkline> | null = null;

  function showStats(s: any): void {
    clear(cards);
    const d = s.devices ?? {};
    const card = (label: string, value: string, cls = "", href?: string) =>
      h(href ? "a" : "div", { class: "card " + cls, href }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
    cards.append(
      card("devices", fmtNumber(d.total ?? 0), "", "#/devices"),
      card("online", fmtNumber(d.online ?? 0), "s-online", "#/devices?status=online"),
      card("at risk", fmtNumber(d.at_risk ?? 0), "s-at_risk", "#/devices?status=at_risk"),
      card("offline", fmtNumber(d.offline ?? 0), "s-offline", "#/devices?status=offline"),
      card("ingest / s", fmtNumber(s.ingest_rate_per_s ?? 0, 1)),
      card("points stored", fmtNumber(s.points_stored ?? 0)),
      card("series", fmtNumber(s.series ?? 0)),
      card("open alerts", fmtNumber(s.open_alerts ?? 0), s.open_alerts ? "s-offline" : "", features.alerts ? "#/alerts" : undefined),
      card("disk", fmtBytes(s.disk_bytes)),
    );
    clear(bar);
    const total = Math.max(1, d.total ?? 0);
    for (const st of ["online", "at_risk", "offline", "unknown"]) {
      const n = d[st] ?? 0;
      if (n) bar.append(h("div", { class: "seg s-" + st, style: `flex:${n / total}`, title: `${st}: ${n}` }));
    }
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
    if (Array.isArray(res?.groups)) kpis.append(kpiTable([res.fleet, ...res.groups].filter(Boolean)));
    else kpis.append(res && typeof res === "object" ? kvGrid(res) : message("No KPIs yet."));
  }

  const load = () =>
    Promise.all([loadStats(), loadAlerts(), loadKpis()]).catch((e) => console.warn("overview:", e.message));
  load();
  // A burst of status events (thousands of devices going offline at once) refreshes once.
  const refreshStats = throttle(() => loadStats().catch(() => {}), 1000);
  const refreshAlerts = throttle(() => loadAlerts().catch(() => {}), 1000);
  return subscribe((e) => {
    if (e.kind === "stats") showStats(e.data);
    else if (e.kind === "alert") refreshAlerts();
    else if (e.kind === "tick") load();
    else if (e.kind === "status") refreshStats();
  });
}

// One row per group (the fleet first): the figures an operator scans for.
function kpiTable(rows: any[]): HTMLElement {
  const cols: [string, (r: any) => string][] = [
    ["group", (r) => (r.key === "all" ? "whole fleet" : r.key)],
    ["devices", (r) => fmtNumber(r.devices)],
    ["availability", (r) => (r.availability_pct == null ? "–" : fmtNumber(r.availability_pct, 1) + " %")],
    ["MTBF", (r) => (r.mtbf_s == null ? "–" : fmtNumber(r.mtbf_s / 3600, 1) + " h")],
    ["MTTR", (r) => (r.mttr_s == null ? "–" : fmtNumber(r.mttr_s / 60, 1) + " min")],
    ["error rate", (r) => (r.error_rate == null ? "–" : fmtNumber(r.error_rate * 100, 2) + " %")],
    ["msgs / min", (r) => fmtNumber(r.messages_per_min, 1)],
    ["battery / day", (r) => (r.battery_drain_pct_per_day == null ? "–" : fmtNumber(r.battery_drain_pct_per_day, 1) + " %")],
  ];
  return h("div", { class: "table-wrap" },
    h("table", { class: "grid", id: "kpi-table" },
      h("thead", {}, h("tr", {}, ...cols.map(([label]) => h("th", {}, label)))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...cols.map(([, cell]) => h("td", {}, cell(r))))))));
}

export { statusBadge };
