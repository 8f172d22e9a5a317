// Maps with Leaflet and no tile server: the base layer is a world outline bundled with the
// dashboard (Natural Earth countries at 1:110m from world-atlas), drawn as vectors; operators
// who have a tile server set its URL (kept in this browser) and get tiles over it.

import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { feature } from "topojson-client";
import countries from "world-atlas/countries-110m.json";
import { cssVar } from "./theme";

const TILE_KEY = "fleetpulse.tileUrl";

export function tileUrl(): string {
  return localStorage.getItem(TILE_KEY) ?? "";
}

export function setTileUrl(url: string): void {
  if (url) localStorage.setItem(TILE_KEY, url);
  else localStorage.removeItem(TILE_KEY);
}

let outline: GeoJSON.GeoJsonObject | null = null;

// Rings cut at the antimeridian (Russia's Chukotka, Fiji) hold points at both -180 and 180,
// which a flat map draws as a band across the world: their western points move east by 360°.
// Antarctica's ring spans every longitude on purpose and stays as it is.
function unwrap(ring: number[][]): void {
  let lo = Infinity, hi = -Infinity;
  for (const [lon] of ring) { lo = Math.min(lo, lon); hi = Math.max(hi, lon); }
  if (hi - lo > 180) for (const p of ring) if (p[0] < 0) p[0] += 360;
}

function worldOutline(): GeoJSON.GeoJsonObject {
  if (outline) return outline;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const all = feature(countries as any, (countries as any).objects.countries) as unknown as GeoJSON.FeatureCollection;
  for (const f of all.features) {
    if (f.id === "010") continue;
    const g = f.geometry;
    if (g.type === "Polygon") g.coordinates.forEach(unwrap);
    else if (g.type === "MultiPolygon") g.coordinates.forEach((poly) => poly.forEach(unwrap));
  }
  outline = all;
  return outline;
}

// A map in `el` with the offline outline (and the tile layer when one is set). The map is
// also reachable as `el.fpMap` (the browser tests read marker positions through it).
export function createMap(el: HTMLElement, label: string): L.Map {
  el.setAttribute("role", "region");
  el.setAttribute("aria-label", label);
  const map = L.map(el, { worldCopyJump: true, minZoom: 1, maxZoom: 18, zoomSnap: 0.5, attributionControl: true });
  map.attributionControl.setPrefix(false);
  L.geoJSON(worldOutline(), {
    interactive: false,
    style: { color: cssVar("--map-border"), weight: 0.7, fillColor: cssVar("--map-land"), fillOpacity: 1 },
  }).addTo(map);
  map.attributionControl.addAttribution("Outline: Natural Earth");
  const url = tileUrl();
  if (url) L.tileLayer(url, { maxZoom: 19, attribution: "tiles: " + new URL(url.replace(/\{[a-z]\}/g, "0"), location.href).host }).addTo(map);
  map.setView([20, 0], 1.5);
  (el as any).fpMap = map;
  return map;
}

export interface Pin {
  id: string;
  lat: number;
  lon: number;
  status: string;
  label: string;
}

// Enter or Space on a focused marker acts as a click (Leaflet only makes it focusable).
function onEnter(el: HTMLElement, fn: () => void): void {
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      fn();
    }
  });
}

const SEVERITY: Record<string, number> = { offline: 3, at_risk: 2, unknown: 1, online: 0 };

// Devices on a map, coloured by status and grouped into clusters where markers would overlap
// (a grid of `cellPx` screen pixels, recomputed on zoom); clicking a device calls `open`,
// clicking a cluster zooms into it. Markers are keyboard-focusable (Enter opens).
export class PinLayer {
  private group = L.layerGroup();
  private pins: Pin[] = [];

  constructor(private map: L.Map, private open: (id: string) => void, private cellPx = 48) {
    this.group.addTo(map);
    map.on("zoomend", () => this.draw());
  }

  set(pins: Pin[]): void {
    this.pins = pins;
    this.draw();
  }

  fit(): void {
    if (!this.pins.length) return;
    const bounds = L.latLngBounds(this.pins.map((p) => [p.lat, p.lon] as [number, number]));
    this.map.fitBounds(bounds.pad(0.2), { maxZoom: 13, animate: false });
    this.draw();
  }

  updateStatus(id: string, status: string): void {
    const pin = this.pins.find((p) => p.id === id);
    if (pin && pin.status !== status) {
      pin.status = status;
      this.draw();
    }
  }

  private draw(): void {
    this.group.clearLayers();
    const zoom = this.map.getZoom();
    const cells = new Map<string, Pin[]>();
    for (const p of this.pins) {
      const pt = this.map.project([p.lat, p.lon], zoom);
      const key = zoom >= this.map.getMaxZoom() ? p.id : `${Math.floor(pt.x / this.cellPx)}:${Math.floor(pt.y / this.cellPx)}`;
      const list = cells.get(key);
      if (list) list.push(p);
      else cells.set(key, [p]);
    }
    for (const members of cells.values()) {
      if (members.length === 1) this.group.addLayer(this.marker(members[0]));
      else this.group.addLayer(this.cluster(members));
    }
  }

  private marker(p: Pin): L.Marker {
    const m = L.marker([p.lat, p.lon], {
      icon: L.divIcon({ className: "pin s-" + p.status, iconSize: [14, 14] }),
      title: `${p.label} — ${p.status.replace("_", " ")}`,
      alt: `${p.label}, ${p.status.replace("_", " ")}`,
      keyboard: true,
      riseOnHover: true,
    });
    m.on("click", () => this.open(p.id));
    m.on("add", () => {
      const el = m.getElement();
      if (!el) return;
      onEnter(el, () => this.open(p.id));
      el.dataset.device = p.id;
      el.dataset.lat = String(p.lat);
      el.dataset.lon = String(p.lon);
      el.dataset.status = p.status;
      el.setAttribute("role", "link");
      el.setAttribute("aria-label", `Open ${p.label} (${p.status.replace("_", " ")})`);
    });
    return m;
  }

  private cluster(members: Pin[]): L.Marker {
    let lat = 0, lon = 0, worst = "online";
    const counts: Record<string, number> = {};
    for (const p of members) {
      lat += p.lat;
      lon += p.lon;
      counts[p.status] = (counts[p.status] ?? 0) + 1;
      if ((SEVERITY[p.status] ?? 0) > (SEVERITY[worst] ?? 0)) worst = p.status;
    }
    const n = members.length;
    const size = n < 10 ? 28 : n < 100 ? 34 : 40;
    const summary = Object.entries(counts).map(([s, c]) => `${c} ${s.replace("_", " ")}`).join(", ");
    const m = L.marker([lat / n, lon / n], {
      icon: L.divIcon({ className: "cluster s-" + worst, html: `<span>${n}</span>`, iconSize: [size, size] }),
      title: `${n} devices: ${summary} — click to zoom in`,
      alt: `${n} devices`,
      keyboard: true,
    });
    const zoomIn = () => {
      const bounds = L.latLngBounds(members.map((p) => [p.lat, p.lon] as [number, number]));
      const target = Math.min(this.map.getBoundsZoom(bounds.pad(0.1)), this.map.getMaxZoom());
      if (target <= this.map.getZoom()) this.map.setView(bounds.getCenter(), Math.min(this.map.getZoom() + 2, this.map.getMaxZoom()), { animate: false });
      else this.map.fitBounds(bounds.pad(0.1), { animate: false });
    };
    m.on("click", zoomIn);
    m.on("add", () => {
      const el = m.getElement();
      if (!el) return;
      onEnter(el, zoomIn);
      el.dataset.count = String(n);
      el.setAttribute("role", "button");
      el.setAttribute("aria-label", `${n} devices (${summary}): zoom in`);
    });
    return m;
  }
}

// A moving device's path: a line through its positions with the start and the latest marked.
export class TrackLayer {
  private line: L.Polyline;
  private start: L.CircleMarker;
  private head: L.CircleMarker;
  private points: L.LatLng[] = [];

  constructor(private map: L.Map) {
    const accent = cssVar("--accent");
    this.line = L.polyline([], { color: accent, weight: 3, opacity: 0.9 }).addTo(map);
    this.start = L.circleMarker([0, 0], { radius: 5, color: accent, fillColor: cssVar("--panel"), fillOpacity: 1, weight: 2 });
    this.head = L.circleMarker([0, 0], { radius: 7, color: cssVar("--panel"), fillColor: accent, fillOpacity: 1, weight: 2 });
  }

  set(points: [number, number][], fit = true): void {
    this.points = points.map(([lat, lon]) => L.latLng(lat, lon));
    this.redraw();
    if (fit && this.points.length) this.map.fitBounds(L.latLngBounds(this.points).pad(0.2), { maxZoom: 15, animate: false });
  }

  add(lat: number, lon: number): void {
    this.points.push(L.latLng(lat, lon));
    this.redraw();
  }

  count(): number {
    return this.points.length;
  }

  private redraw(): void {
    this.line.setLatLngs(this.points);
    if (!this.points.length) {
      this.start.remove();
      this.head.remove();
      return;
    }
    this.start.setLatLng(this.points[0]).addTo(this.map);
    this.head.setLatLng(this.points[this.points.length - 1]).addTo(this.map);
    const el = this.map.getContainer();
    el.dataset.trackPoints = String(this.points.length);
    const last = this.points[this.points.length - 1];
    el.dataset.trackHead = `${last.lat},${last.lng}`;
  }
}
