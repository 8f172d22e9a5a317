// The fleet map: every device with a position (its heartbeats' `geo`, else its latest `lat`/`lon`
// readings), coloured
// by status and clustered where dense; clicking one opens it. Statuses change live. A tile
// server URL can be set here (kept in this browser); without one the bundled outline is used.

import { api, qs } from "../api";
import { h, message } from "../dom";
import { subscribe } from "../live";
import { createMap, Pin, PinLayer, setTileUrl, tileUrl } from "../map";

const MAX_PAGES = 100;  // 100k devices at 1000 a page

// The latest value of one metric for every device that has it.
async function latestOf(metric: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await api("/api/v1/latest" + qs({ metric, limit: 100000, cursor }));
    for (const d of res.devices ?? []) {
      const v = d.values?.[metric]?.value;
      if (Number.isFinite(v)) out.set(d.device_id, v);
    }
    cursor = res.next_cursor ?? undefined;
    if (!cursor) break;
  }
  return out;
}

// Where each device is: the position its heartbeats give (`geo`), else its latest `lat` and
// `lon` readings (devices that report GPS as telemetry only).
export async function devicesWithPosition(): Promise<{ pins: Pin[]; total: number }> {
  const pins: Pin[] = [];
  let total = 0;
  let cursor: string | undefined;
  const [lats, lons] = await Promise.all([latestOf("lat"), latestOf("lon")]);
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await api("/api/v1/devices" + qs({ limit: 1000, cursor }));
    for (const d of res.devices ?? []) {
      total++;
      const pin = { id: d.device_id, status: d.status, label: d.name || d.device_id };
      if (d.geo && Number.isFinite(d.geo.lat) && Number.isFinite(d.geo.lon))
        pins.push({ ...pin, lat: d.geo.lat, lon: d.geo.lon });
      else if (lats.has(d.device_id) && lons.has(d.device_id))
        pins.push({ ...pin, lat: lats.get(d.device_id)!, lon: lons.get(d.device_id)! });
    }
    cursor = res.next_cursor ?? undefined;
    if (!cursor) break;
  }
  return { pins, total };
}

export function mapView(root: HTMLElement): () => void {
  const box = h("div", { class: "map fleet-map", id: "fleet-map" });
  const info = h("p", { class: "muted", id: "map-info", "aria-live": "polite" });
  const legend = h("ul", { class: "legend", "aria-label": "status colours" },
    ...["online", "at_risk", "offline", "unknown"].map((s) => h("li", {}, h("span", { class: "dot s-" + s }), s.replace("_", " "))));
  const urlInput = h("input", { id: "tile-url", type: "url", value: tileUrl(), placeholder: "https://tiles.example/{z}/{x}/{y}.png", "aria-label": "tile server URL", size: 40 });
  const settings = h("details", { class: "map-settings" },
    h("summary", {}, "Map tiles"),
    h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); setTileUrl(urlInput.value.trim()); location.reload(); } },
      urlInput, h("button", { type: "submit" }, "Use"),
      h("span", { class: "muted small" }, "Optional. Without a tile server the map shows the bundled country outlines.")));
  root.append(h("h1", {}, "Fleet map"), h("div", { class: "map-bar" }, legend, info), box, settings);
  const map = createMap(box, "Map of the devices with a known position");
  const layer = new PinLayer(map, (id) => { location.hash = "#/devices/" + encodeURIComponent(id); });

  let first = true;
  async function load(): Promise<void> {
    const { pins, total } = await devicesWithPosition();
    layer.set(pins);
    if (first && pins.length) layer.fit();
    first = false;
    box.dataset.devices = String(pins.length);
    info.textContent = `${pins.length} of ${total} devices have a position.`;
  }
  load().catch((e) => root.append(message(e.message, "error")));
  let ticks = 0;
  const off = subscribe((e) => {
    if (e.kind === "status") layer.updateStatus(e.data.device_id, e.data.to);
    else if (e.kind === "tick" && ++ticks % 4 === 0) load().catch(() => {});  // moved devices
  });
  return () => {
    off();
    map.remove();
  };
}
