// The device table: server-side filters (status, type, location, text search) and cursor
// paging, so it stays fast with 100k devices; the filters live in the URL (#/devices?...).
// Status changes arrive live and update the rows in place.

import { api, Features, qs } from "../api";
import { clear, fmtAgo, h, statusBadge } from "../dom";
import { fmtMetric } from "../format";
import { subscribe } from "../live";
import { exportControls, stamp } from "./export";

const PAGE = 50;
const COLUMNS: [string, string][] = [
  ["Device", "device_id"], ["Status", "status"], ["Type", "type"], ["Location", "location"],
  ["Battery", "battery_level"], ["Signal", "signal_strength"], ["Last seen", "last_seen"],
];

const EXPORT_RANGES: [string, string, number][] = [["-1h", "last hour", 3600e3], ["-24h", "last 24 h", 86400e3], ["-7d", "last 7 days", 7 * 86400e3], ["-30d", "last 30 days", 30 * 86400e3]];

export function devicesView(root: HTMLElement, params: URLSearchParams, features: Features): () => void {
  const filters = {
    status: params.get("status") ?? "",
    type: params.get("type") ?? "",
    location: params.get("location") ?? "",
    q: params.get("q") ?? "",
    sort: params.get("sort") ?? "",
  };
  const cursors: string[] = [""];  // cursor of each page visited; last = current
  let next: string | null = null;

  const status = h(
    "select",
    { id: "filter-status", "aria-label": "status" },
    ...["", "online", "at_risk", "offline", "unknown"].map((s) =>
      h("option", { value: s, selected: s === filters.status }, s ? s.replace("_", " ") : "any status"),
    ),
  );
  const type = h("input", { id: "filter-type", placeholder: "type", value: filters.type, list: "types", "aria-label": "type" });
  const location = h("input", { id: "filter-location", placeholder: "location", value: filters.location, list: "locations", "aria-label": "location" });
  const search = h("input", { id: "filter-q", type: "search", placeholder: "search id, name, type, location", value: filters.q, "aria-label": "search" });
  const types = h("datalist", { id: "types" });
  const locations = h("datalist", { id: "locations" });
  const body = h("tbody");
  const info = h("span", { class: "muted", id: "page-info" });
  const prev = h("button", { id: "prev", onclick: () => { cursors.pop(); load(); } }, "‹ Prev");
  const nextBtn = h("button", { id: "next", onclick: () => { if (next) { cursors.push(next); load(); } } }, "Next ›");

  const exportRange = h("select", { id: "list-export-range", "aria-label": "export range" },
    ...EXPORT_RANGES.map(([v, label]) => h("option", { value: v, selected: v === "-24h" }, label)));
  const exportRangeMs = () => EXPORT_RANGES.find(([v]) => v === exportRange.value)?.[2] ?? 86400e3;
  let exportEnd = Date.now();
  const exporter = features.exports
    ? exportControls("list-export", "Export these devices", {
        params: () => {
          exportEnd = Date.now();
          return { status: filters.status, type: filters.type, location: filters.location, q: filters.q,
            start: new Date(exportEnd - exportRangeMs()).toISOString(), end: new Date(exportEnd).toISOString() };
        },
        name: () => `devices${filters.status ? "_" + filters.status : ""}${filters.type ? "_" + filters.type : ""}${filters.q ? "_" + filters.q : ""}_${stamp(exportEnd - exportRangeMs())}_${stamp(exportEnd)}`,
      }, [exportRange])
    : null;
  root.append(
    h("div", { class: "section-bar" }, h("h1", {}, "Devices"), exporter),
    h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); apply(); } }, status, type, location, search, types, locations, h("button", { type: "submit" }, "Filter")),
    h("div", { class: "table-wrap" },
      h("table", { class: "grid", id: "device-table" },
        h("thead", {}, h("tr", {}, ...COLUMNS.map(([label, key]) =>
          h("th", { class: "sortable", "data-sort": key, "aria-sort": "none" },
            h("button", { class: "sort", type: "button", onclick: () => sortBy(key), title: `sort by ${label.toLowerCase()}` }, label, h("span", { class: "arrow", "aria-hidden": "true" })))))),
        body)),
    h("div", { class: "pager" }, prev, info, nextBtn),
  );

  const seenTypes = new Set<string>();
  const seenLocations = new Set<string>();

  function showSort(): void {
    const key = filters.sort.replace(/^-/, "") || "device_id";
    for (const th of root.querySelectorAll<HTMLElement>("th[data-sort]")) {
      const arrow = th.querySelector(".arrow") as HTMLElement;
      arrow.textContent = th.dataset.sort === key ? (filters.sort.startsWith("-") ? " ▼" : " ▲") : "";
      th.setAttribute("aria-sort", th.dataset.sort === key ? (filters.sort.startsWith("-") ? "descending" : "ascending") : "none");
    }
  }

  // Click a column once to sort ascending by it, again for descending.
  function sortBy(key: string): void {
    filters.sort = filters.sort === key || (key === "device_id" && !filters.sort) ? "-" + key : key;
    if (filters.sort === "device_id") filters.sort = "";
    apply();
  }

  function apply(): void {
    filters.status = status.value;
    filters.type = type.value.trim();
    filters.location = location.value.trim();
    filters.q = search.value.trim();
    const url = "#/devices" + qs(filters);
    if (location_hash() !== url) history.replaceState(null, "", url);
    cursors.splice(0, cursors.length, "");
    showSort();
    load();
  }
  showSort();
  status.addEventListener("change", apply);

  let seq = 0;
  async function load(): Promise<void> {
    const mine = ++seq;
    const res = await api("/api/v1/devices" + qs({ ...filters, limit: PAGE, cursor: cursors[cursors.length - 1] }));
    if (mine !== seq) return;  // a newer load started meanwhile
    next = res.next_cursor ?? null;
    clear(body);
    for (const d of res.devices) {
      body.append(
        h("tr", { "data-device": d.device_id },
          h("td", {}, h("a", { href: "#/devices/" + encodeURIComponent(d.device_id) }, d.device_id), d.name ? h("div", { class: "muted small" }, d.name) : null),
          h("td", { class: "status" }, statusBadge(d.status)),
          h("td", {}, d.type || "–"),
          h("td", {}, d.location || "–"),
          h("td", {}, fmtMetric("battery_level", d.battery_level)),
          h("td", {}, fmtMetric("signal_strength", d.signal_strength)),
          h("td", { title: d.last_seen ?? "" }, fmtAgo(d.last_seen)),
        ),
      );
      if (d.type && !seenTypes.has(d.type)) { seenTypes.add(d.type); types.append(h("option", { value: d.type })); }
      if (d.location && !seenLocations.has(d.location)) { seenLocations.add(d.location); locations.append(h("option", { value: d.location })); }
    }
    if (!res.devices.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No devices match.")));
    const first = (cursors.length - 1) * PAGE + 1;
    info.textContent = res.devices.length ? `${first}–${first + res.devices.length - 1}` : "";
    prev.disabled = cursors.length <= 1;
    nextBtn.disabled = !next;
  }

  load().catch((e) => body.append(h("tr", {}, h("td", { colspan: 7, class: "error" }, e.message))));
  return subscribe((e) => {
    if (e.kind === "status") {
      const row = body.querySelector<HTMLElement>(`tr[data-device="${CSS.escape(e.data.device_id)}"]`);
      const cell = row?.querySelector(".status");
      if (cell) {
        clear(cell);
        cell.append(statusBadge(e.data.to));
      }
      if (filters.status && e.data.to !== filters.status && row) row.classList.add("stale");
    } else if (e.kind === "tick") {
      load().catch(() => {});
    }
  });
}

function location_hash(): string {
  return window.location.hash;
}
