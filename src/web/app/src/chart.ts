// Time-series charts with uPlot: one chart per metric, drag to zoom (the view fetches the
// zoomed range again at a finer resolution), double-click to go back. Colours come from the
// theme; every chart carries a text alternative (latest value and range) for screen readers.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { cssVar } from "./theme";

export interface Series {
  ts: number[];  // seconds since the epoch
  values: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
}

export interface LineOptions {
  format?: (v: number) => string;  // values in the text alternative
  step?: boolean;                  // a staircase (states, levels) rather than a line
  levels?: string[];               // names of the values 0, 1, 2… (the y axis shows only these)
  xRange?: [number, number];       // the time axis in ms, when the points do not span the range
}

// The y axis wide enough for its longest label (long negative or decimal values are not cut).
const axisSize = (_u: uPlot, values: string[] | null) =>
  values && values.length ? Math.max(40, Math.ceil(Math.max(...values.map((v) => (v ?? "").length)) * 7.5) + 16) : 40;

function axes(levels?: string[]): uPlot.Axis[] {
  const stroke = cssVar("--dim");
  const grid = { stroke: cssVar("--line") };
  const y: uPlot.Axis = { stroke, grid, ticks: grid, size: axisSize };
  if (levels) {
    y.splits = () => levels.map((_, i) => i);
    y.values = (_u, vals) => vals.map((v) => levels[Math.round(v)] ?? "");
  }
  return [{ stroke, grid, ticks: grid }, y];
}

// "Temperature: latest 21.5 °C, from 18.2 °C to 24.9 °C over 240 points." on the chart's box.
export function describe(target: HTMLElement, title: string, values: (number | null)[], format: (v: number) => string = String): string {
  const nums = values.filter((v): v is number => v !== null && v !== undefined && !Number.isNaN(v));
  let text: string;
  if (!nums.length) text = `${title}: no data in this range.`;
  else {
    let lo = nums[0], hi = nums[0];
    for (const v of nums) { if (v < lo) lo = v; if (v > hi) hi = v; }
    text = `${title}: latest ${format(nums[nums.length - 1])}, from ${format(lo)} to ${format(hi)} over ${nums.length} points.`;
  }
  target.setAttribute("role", "img");
  target.setAttribute("aria-label", text);
  target.dataset.summary = text;
  return text;
}

export function lineChart(
  target: HTMLElement,
  title: string,
  data: Series,
  onZoom: (fromMs: number, toMs: number) => void,
  onReset: () => void,
  options: LineOptions = {},
): uPlot {
  const width = Math.max(280, target.clientWidth || 600);
  const accent = cssVar("--accent");
  const series: uPlot.Series[] = [{}];
  const columns: uPlot.AlignedData = [data.ts] as unknown as uPlot.AlignedData;
  const cols = columns as unknown as (number | null)[][];
  if (data.min && data.max) {
    series.push({ label: "min", stroke: cssVar("--accent-dim"), width: 1 });
    series.push({ label: "max", stroke: cssVar("--accent-dim"), width: 1 });
    cols.push(data.min, data.max);
  }
  series.push({
    label: title, stroke: accent, width: 1.5, points: { show: data.ts.length < 60 },
    paths: options.step ? uPlot.paths.stepped!({ align: 1 }) : undefined,
  });
  cols.push(data.values);
  const opts: uPlot.Options = {
    title,
    width,
    height: 200,
    series,
    axes: axes(options.levels),
    scales: {
      ...(options.xRange ? { x: { time: true, range: (): uPlot.Range.MinMax => [options.xRange![0] / 1000, options.xRange![1] / 1000] } } : {}),
      ...(options.levels ? { y: { range: (): uPlot.Range.MinMax => [-0.2, options.levels!.length - 0.8] } } : {}),
    },
    cursor: { drag: { x: true, y: false, setScale: false } },
    legend: { show: false },
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 4) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onZoom(from * 1000, to * 1000);
        },
      ],
    },
  };
  const plot = new uPlot(opts, columns, target);
  plot.over.addEventListener("dblclick", onReset);
  describe(target, title, data.values, options.format);
  return plot;
}

export interface NamedSeries {
  label: string;
  colorVar: string;  // a theme variable, e.g. "--online"
  values: (number | null)[];
}

// Several series over one time axis (the overview's history), with a small legend.
// `xRange` (ms) fixes the time axis when the points do not span the range (a few samples).
export function multiChart(target: HTMLElement, title: string, ts: number[], list: NamedSeries[], format: (v: number) => string = String, height = 150, xRange?: [number, number]): uPlot {
  const plot = new uPlot(
    {
      width: Math.max(260, target.clientWidth || 400),
      height,
      series: [{}, ...list.map((s) => ({ label: s.label, stroke: cssVar(s.colorVar), width: 1.5, value: (_u: uPlot, v: number | null) => (v == null ? "–" : format(v)) }))],
      axes: axes(),
      legend: { show: list.length > 1, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        ...(xRange ? { x: { time: true, range: (): uPlot.Range.MinMax => [xRange[0] / 1000, xRange[1] / 1000] } } : {}),
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
    },
    [ts, ...list.map((s) => s.values)] as unknown as uPlot.AlignedData,
    target,
  );
  const parts = list.map((s) => describe(document.createElement("div"), s.label, s.values, format));
  target.setAttribute("role", "img");
  const text = `${title}. ` + parts.join(" ");
  target.setAttribute("aria-label", text);
  target.dataset.summary = text;
  return plot;
}

export function sparkline(target: HTMLElement, ts: number[], values: number[]): uPlot {
  const plot = new uPlot(
    {
      width: Math.max(200, target.clientWidth || 300),
      height: 60,
      series: [{}, { stroke: cssVar("--online"), width: 1.5, fill: cssVar("--online-fill") }],
      axes: [{ show: false }, { show: false }],
      legend: { show: false },
      cursor: { show: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    },
    [ts, values],
    target,
  );
  describe(target, "Ingest rate per second", values);
  return plot;
}
