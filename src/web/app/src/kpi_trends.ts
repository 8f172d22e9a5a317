// KPI trends from the server's KPI history (GET /api/v1/kpis/history, sampled every
// --kpi-history-interval): availability and response time over the last 24 h for one device
// (with its type's average beside it), or per device type on the overview. A clear empty state
// when the server keeps no KPI history, or has not sampled any in the range yet.

import { api, qs } from "./api";
import { multiChart, NamedSeries } from "./chart";
import { clear, h } from "./dom";
import { fmtValue } from "./format";

const DAY_MS = 86400e3;
const COLORS = ["--accent", "--online", "--offline", "--unknown", "--dim"];

interface HistorySeries {
  kpi: string;
  device_id?: string;
  type: string;
  points: { ts: string; value: number }[];
}

// The KPI charts of one kind: one line per named series, on the union of their times.
function chart(target: HTMLElement, id: string, title: string, lines: { label: string; series?: HistorySeries }[], format: (v: number) => string): boolean {
  const present = lines.filter((l) => l.series && l.series.points.length);
  if (!present.length) return false;
  const times = [...new Set(present.flatMap((l) => l.series!.points.map((p) => Date.parse(p.ts))))].sort((a, b) => a - b);
  const list: NamedSeries[] = present.map((l, i) => {
    const byTime = new Map(l.series!.points.map((p) => [Date.parse(p.ts), p.value]));
    return { label: l.label, colorVar: COLORS[i % COLORS.length], values: times.map((t) => byTime.get(t) ?? null) };
  });
  const box = h("div", { class: "history-chart", id, "data-kpi": present[0].series!.kpi, "data-points": times.length, "data-lines": present.length });
  target.append(h("figure", {}, h("figcaption", {}, title), box));
  multiChart(box, title, times.map((t) => t / 1000), list, format, 150, [Date.now() - DAY_MS, Date.now()]);
  return true;
}

const pct = (v: number) => fmtValue(v, 1) + " %";
const ms = (v: number) => fmtValue(v, 0) + " ms";

function empty(target: HTMLElement, text: string): void {
  target.append(h("p", { class: "muted", id: "kpi-trends-empty" }, text));
}

// One device's availability and response time, with its type's roll-up beside them.
export async function deviceTrends(target: HTMLElement, route: string | null, deviceId: string, type: string): Promise<void> {
  if (!route) return empty(target, "Availability and response time over time will appear here once the server keeps KPI history. Until then: the 24 h figures above.");
  const bounds = { start: new Date(Date.now() - DAY_MS).toISOString(), kpi: "availability,response_time_ms" };
  const [mine, types] = await Promise.all([
    api(route + qs({ ...bounds, device_id: deviceId })),
    type ? api(route + qs({ ...bounds, group_by: "type" })) : Promise.resolve({ series: [] }),
  ]);
  const find = (list: HistorySeries[], kpi: string) => list.find((s) => s.kpi === kpi);
  const ofType = (types.series as HistorySeries[]).filter((s) => s.type === type);
  clear(target);
  const grid = h("div", { class: "history-grid" });
  const any = [
    chart(grid, "kpi-trend-availability", "Availability (%)", [{ label: deviceId, series: find(mine.series, "availability") }, { label: `${type} average`, series: find(ofType, "availability") }], pct),
    chart(grid, "kpi-trend-response", "Response time (ms)", [{ label: deviceId, series: find(mine.series, "response_time_ms") }, { label: `${type} average`, series: find(ofType, "response_time_ms") }], ms),
  ].some(Boolean);
  if (!any) return empty(target, "No KPI history for this device in the last 24 h yet: the server samples KPIs every " + mine.interval + ".");
  target.append(grid, h("p", { class: "muted small" }, `Sampled every ${mine.interval}, averaged per ${mine.step}. Availability: the share of each interval the device was online; response time: receive time minus the heartbeat's own time.`));
}

// Availability and response time per device type.
export async function typeTrends(target: HTMLElement, route: string | null): Promise<void> {
  if (!route) return empty(target, "Availability and response time over time, per device type, will appear here once the server keeps KPI history. Until then: the 24 h figures above.");
  const res = await api(route + qs({ group_by: "type", start: new Date(Date.now() - DAY_MS).toISOString(), kpi: "availability,response_time_ms" }));
  const series = res.series as HistorySeries[];
  const lines = (kpi: string) => series.filter((s) => s.kpi === kpi).map((s) => ({ label: s.type, series: s }));
  clear(target);
  const grid = h("div", { class: "history-grid" });
  const any = [
    chart(grid, "kpi-trend-availability", "Availability by type (%)", lines("availability"), pct),
    chart(grid, "kpi-trend-response", "Response time by type (ms)", lines("response_time_ms"), ms),
  ].some(Boolean);
  if (!any) return empty(target, "No KPI history in the last 24 h yet: the server samples KPIs every " + res.interval + " (devices need a type to be rolled up).");
  target.append(grid, h("p", { class: "muted small" }, `Mean over each type's devices, sampled every ${res.interval}, averaged per ${res.step}.`));
}
