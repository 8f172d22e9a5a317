// Readable names and numbers: metric names and units (from the device's `unit` attributes
// where given, else from the name), rounding per metric, durations as "2 h 14 min",
// coordinates with 5 decimals, and the KPI names with how each is computed.

export interface MetricInfo {
  label: string;
  unit: string;    // shown after the value ("" for none)
  digits?: number; // fixed decimals (coordinates, percentages); else by magnitude
}

const KNOWN: Record<string, MetricInfo> = {
  lat: { label: "Latitude", unit: "°", digits: 5 },
  latitude: { label: "Latitude", unit: "°", digits: 5 },
  lon: { label: "Longitude", unit: "°", digits: 5 },
  lng: { label: "Longitude", unit: "°", digits: 5 },
  longitude: { label: "Longitude", unit: "°", digits: 5 },
  battery_level: { label: "Battery", unit: "%", digits: 0 },
  battery: { label: "Battery", unit: "%", digits: 0 },
  signal_strength: { label: "Signal", unit: "dBm", digits: 0 },
  rssi: { label: "Signal (RSSI)", unit: "dBm", digits: 0 },
  temperature: { label: "Temperature", unit: "°C" },
  humidity: { label: "Humidity", unit: "%", digits: 1 },
};

// Units written as a name suffix: temperature_c, speed_kmh, fuel_pct, response_time_ms.
const SUFFIXES: [string, string, number?][] = [
  ["_c", "°C"], ["_f", "°F"], ["_kmh", "km/h"], ["_mph", "mph"], ["_pct", "%", 1], ["_percent", "%", 1],
  ["_ms", "ms"], ["_s", "s"], ["_v", "V"], ["_mv", "mV"], ["_a", "A"], ["_w", "W"], ["_kw", "kW"],
  ["_kwh", "kWh"], ["_hpa", "hPa"], ["_ppm", "ppm"], ["_db", "dB"], ["_dbm", "dBm", 0], ["_lux", "lx"],
  ["_m", "m"], ["_km", "km"], ["_l", "L"],
];

// Unit names as devices send them (`"unit":"celsius"`) to their symbols.
const UNIT_SYMBOLS: Record<string, string> = {
  celsius: "°C", fahrenheit: "°F", percent: "%", pct: "%", volt: "V", volts: "V", millivolt: "mV",
  watt: "W", kilowatt: "kW", hectopascal: "hPa", meter: "m", metre: "m", second: "s", seconds: "s",
  millisecond: "ms", milliseconds: "ms", decibel: "dB",
};

export function humanize(name: string): string {
  const s = name.replace(/[._]+/g, " ").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// What to call a metric and which unit to show; `attributes` is the device's (string values
// it sent, e.g. `unit` or `<metric>.unit`).
export function metricInfo(metric: string, attributes?: Record<string, unknown> | null): MetricInfo {
  const attr = attributes?.[metric + ".unit"] ?? attributes?.[metric + "_unit"];
  const known = KNOWN[metric.toLowerCase()];
  let info: MetricInfo | undefined = known && { ...known };
  if (!info) {
    const lower = metric.toLowerCase();
    for (const [suffix, unit, digits] of SUFFIXES) {
      if (lower.endsWith(suffix) && lower.length > suffix.length) {
        info = { label: humanize(metric.slice(0, -suffix.length)), unit, digits };
        break;
      }
    }
  }
  info ??= { label: humanize(metric), unit: "" };
  if (typeof attr === "string" && attr) info.unit = UNIT_SYMBOLS[attr.toLowerCase()] ?? attr;
  return info;
}

// A number rounded to what matters at its size: 401.29999999999995 → "401.3", 0.000123 → "0.000123".
export function fmtValue(v: number | null | undefined, digits?: number): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (digits !== undefined) return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const a = Math.abs(v);
  const max = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : a === 0 ? 0 : Math.min(6, 2 - Math.floor(Math.log10(a)));
  return v.toLocaleString("en-US", { maximumFractionDigits: max });
}

// A value with its unit: "21.5 °C", "87 %", "51.63430°".
export function fmtMetric(metric: string, v: number | null | undefined, attributes?: Record<string, unknown> | null): string {
  const info = metricInfo(metric, attributes);
  const text = fmtValue(v, info.digits);
  if (text === "–" || !info.unit) return text;
  return info.unit === "°" || info.unit === "%" ? text + (info.unit === "%" ? " %" : "°") : `${text} ${info.unit}`;
}

// Bytes as "512 B", "20.4 KiB", "3.1 MiB".
export function fmtBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return fmtValue(v, i ? 1 : 0) + " " + units[i];
}

export function fmtCoord(lat: number, lon: number): string {
  return `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
}

// Seconds as "45 s", "12 min", "2 h 14 min", "3 d 4 h".
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export interface KpiField {
  key: string;
  label: string;
  how: string;  // the tooltip: how the figure is computed
  show: (k: any) => string;
}

const pct = (v: number | null | undefined, d = 1) => (v == null ? "–" : fmtValue(v, d) + " %");

export const KPI_FIELDS: KpiField[] = [
  { key: "availability_pct", label: "Availability", how: "time online ÷ the period (the window, or since registration)", show: (k) => pct(k.availability_pct) },
  { key: "uptime_pct", label: "Uptime", how: "time online or at risk ÷ the period", show: (k) => pct(k.uptime_pct) },
  { key: "mtbf_s", label: "Mean time between failures", how: "up time (online + at risk) ÷ the number of times it went offline", show: (k) => fmtDuration(k.mtbf_s) },
  { key: "mttr_s", label: "Mean time to recover", how: "time offline ÷ the number of offline stretches", show: (k) => fmtDuration(k.mttr_s) },
  { key: "response_time_ms", label: "Response time", how: "receive time minus the heartbeat's own timestamp: average and 95th percentile of the last 16 heartbeats", show: (k) => (k.response_time_ms?.avg == null ? "–" : `${fmtValue(k.response_time_ms.avg)} ms avg · ${fmtValue(k.response_time_ms.p95)} ms p95`) },
  { key: "error_rate", label: "Error rate", how: "rejected ÷ (accepted + rejected) messages", show: (k) => (k.error_rate == null ? "–" : fmtValue(k.error_rate * 100, 2) + " %") },
  { key: "messages_per_min", label: "Messages per minute", how: "accepted heartbeats and telemetry requests per minute of the period", show: (k) => fmtValue(k.messages_per_min) },
  { key: "bytes_per_min", label: "Bytes per minute", how: "request bytes of accepted messages per minute of the period", show: (k) => fmtBytes(k.bytes_per_min) },
  { key: "status_consistency", label: "Reporting regularity", how: "messages received ÷ the messages expected at its learned report interval (at most 100 %)", show: (k) => pct(k.status_consistency == null ? null : k.status_consistency * 100) },
  { key: "battery_drain_pct_per_day", label: "Battery drain", how: "least-squares slope of the battery samples, in % per day", show: (k) => (k.battery_drain_pct_per_day == null ? "–" : fmtValue(k.battery_drain_pct_per_day, 1) + " % / day") },
  { key: "battery_empty_at", label: "Battery empty", how: "when the battery reaches 0 % at the current drain", show: (k) => (k.battery_empty_at ? new Date(k.battery_empty_at).toLocaleDateString() : "–") },
];
