// Time-series charts with uPlot: one chart per metric, drag to zoom (the view fetches the
// zoomed range again at a finer resolution), double-click to go back.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  ts: number[];  // seconds since the epoch
  values: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
}

export function lineChart(
  target: HTMLElement,
  title: string,
  data: Series,
  onZoom: (fromMs: number, toMs: number) => void,
  onReset: () => void,
): uPlot {
  const width = Math.max(280, target.clientWidth || 600);
  const series: uPlot.Series[] = [{}];
  const columns: uPlot.AlignedData = [data.ts] as unknown as uPlot.AlignedData;
  const cols = columns as unknown as (number | null)[][];
  if (data.min && data.max) {
    series.push({ label: "min", stroke: "rgba(79,179,255,0.35)", width: 1 });
    series.push({ label: "max", stroke: "rgba(79,179,255,0.35)", width: 1 });
    cols.push(data.min, data.max);
  }
  series.push({ label: title, stroke: "#4fb3ff", width: 1.5, points: { show: data.ts.length < 60 } });
  cols.push(data.values);
  const opts: uPlot.Options = {
    title,
    width,
    height: 200,
    series,
    axes: [
      { stroke: "#8a99a8", grid: { stroke: "#263241" } },
      { stroke: "#8a99a8", grid: { stroke: "#263241" }, size: 60 },
    ],
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
  return plot;
}

export function sparkline(target: HTMLElement, ts: number[], values: number[]): uPlot {
  return new uPlot(
    {
      width: Math.max(200, target.clientWidth || 300),
      height: 60,
      series: [{}, { stroke: "#5fd38d", width: 1.5, fill: "rgba(95,211,141,0.12)" }],
      axes: [{ show: false }, { show: false }],
      legend: { show: false },
      cursor: { show: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    },
    [ts, values],
    target,
  );
}
