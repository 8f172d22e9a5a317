// Export links: a plain <a download> to the streamed /api/v1/export route, so the browser
// writes the file as it arrives and the page never holds it. The link's URL is rebuilt right
// before each click (ranges move with the clock).

import { downloadUrl } from "../api";
import { h } from "../dom";

export interface ExportQuery {
  params: () => Record<string, string | undefined>;  // device_id / filters, start, end
  name: () => string;                                  // the file name without extension
}

export function exportControls(id: string, label: string, q: ExportQuery, extra: HTMLElement[] = []): HTMLElement {
  const format = h("select", { id: id + "-format", "aria-label": "export format" },
    h("option", { value: "csv" }, "CSV"), h("option", { value: "ndjson" }, "NDJSON"));
  const link = h("a", { class: "button", id: id + "-link", role: "button" }, label);
  const update = () => {
    link.href = downloadUrl("/api/v1/export", { ...q.params(), format: format.value });
    link.setAttribute("download", `${q.name()}.${format.value === "csv" ? "csv" : "ndjson"}`);
  };
  link.addEventListener("click", update);
  link.addEventListener("focus", update);
  link.addEventListener("mouseenter", update);
  format.addEventListener("change", update);
  update();
  return h("div", { class: "export", role: "group", "aria-label": label }, ...extra, format, link);
}

// A file name part from a time: 2026-02-12T16-00Z.
export function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace(/:/g, "-") + "Z";
}
