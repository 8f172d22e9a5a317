// The dashboard for daily use: light and dark themes (the system's choice, and a toggle kept
// per browser), keyboard navigation with visible focus, a heartbeat-only device's charts (from
// the series the server keeps of its heartbeats), KPI trends per type and per device, the
// rules page without empty boxes, readable numbers, a text alternative on every chart, the
// overview's 24 h history from the server, every view at 1440 px and 390 px without console
// errors (screenshots in the artifacts) and the size of the JavaScript bundle.
// Run by test_e2e.py (ctest `e2e`).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, test } from "node:test";

import { apiGet, artifacts, env, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const chartDevice = env("FP_CHART_DEVICE");
const vehicle = env("FP_VEHICLE_DEVICE");
const heartbeatDevice = env("FP_HEARTBEAT_DEVICE");
let session;

before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

async function open(page, hash) {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
}

const bg = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
const isLight = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b) > 600;

test("the theme follows prefers-color-scheme until the toggle picks one, kept per browser", async () => {
  const page = await newPage(session.context);
  await page.emulateMedia({ colorScheme: "light" });
  await open(page, "");
  await page.evaluate(() => localStorage.removeItem("fleetpulse.theme"));
  await page.reload();
  await page.waitForSelector("#status-cards .card");
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  assert.ok(isLight(await bg(page)), await bg(page));
  await shot(page, "overview-light-1440");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
  assert.ok(!isLight(await bg(page)));

  // The toggle overrides the system and is remembered across reloads and pages.
  await page.click("#theme-toggle");
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  assert.ok(isLight(await bg(page)));
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  assert.ok(isLight(await bg(page)), "the choice was not kept");
  await open(page, "#/devices/" + chartDevice);
  await page.waitForSelector('[data-metric="temperature"] canvas');
  await shot(page, "device-light-1440");
  await page.click("#theme-toggle");
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
  assert.equal(await page.evaluate(() => localStorage.getItem("fleetpulse.theme")), "dark");
  await page.evaluate(() => localStorage.removeItem("fleetpulse.theme"));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("every control is reachable with Tab and shows where focus is", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices");
  await page.waitForSelector("#device-table tbody tr[data-device]");
  const seen = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const s = getComputedStyle(e);
      return { tag: e.tagName, id: e.id, text: (e.textContent || e.getAttribute("aria-label") || "").trim().slice(0, 30),
        outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 1 };
    });
    if (!f) continue;
    seen.push(f);
    assert.ok(f.outline, `no visible focus on ${f.tag}#${f.id} "${f.text}"`);
  }
  const texts = seen.map((f) => f.id || f.text);
  for (const want of ["Skip to content", "Overview", "Devices", "Map", "theme-toggle", "list-export-link", "filter-status", "Device"])
    assert.ok(texts.some((t) => t.startsWith(want)), `Tab never reached ${want}: ${texts.join(" | ")}`);
  // A sort header works from the keyboard.
  await page.focus('#device-table th[data-sort="battery_level"] button');
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash.includes("sort=battery_level"));
  assert.equal(await page.getAttribute('#device-table th[data-sort="battery_level"]', "aria-sort"), "ascending");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a device that only sends heartbeats shows battery, signal and status charts", async () => {
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "#/devices/" + heartbeatDevice);
  for (const metric of ["battery_level", "signal_strength", "status"])
    await page.waitForSelector(`#charts .chart[data-metric="${metric}"] canvas`);
  const device = await apiGet(base, "/api/v1/devices/" + heartbeatDevice);
  // Battery and signal come from the series the server keeps of the heartbeats (every one of
  // them, not what this page saw), status from the status history.
  const kept = await apiGet(base, `/api/v1/devices/${heartbeatDevice}/telemetry?metric=battery_level&start=-24h&limit=1000`);
  assert.ok(kept.points.length >= 3, JSON.stringify(kept));
  await page.click('button[data-range="1h"]');
  for (const metric of ["battery_level", "signal_strength"]) {
    await page.waitForSelector(`#charts [data-metric="${metric}"][data-source="raw"] canvas`);
    assert.equal(Number(await page.getAttribute(`#charts [data-metric="${metric}"]`, "data-points")), kept.points.length);
  }
  await page.waitForSelector('#charts .chart[data-metric="status"] canvas');
  const battery = await page.getAttribute('#charts [data-metric="battery_level"]', "aria-label");
  assert.ok(battery.includes(`latest ${device.battery_level} %`), battery);
  const signal = await page.getAttribute('#charts [data-metric="signal_strength"]', "aria-label");
  assert.ok(signal.includes(`latest ${device.signal_strength} dBm`), signal);
  assert.match(await page.getAttribute('#charts [data-metric="status"]', "aria-label"), /Status: latest (online|at risk|offline)/);
  assert.match(await page.textContent("#latest"), /only sends heartbeats/);
  await page.waitForSelector("#device-kpis dd");
  // KPI trends from the server's KPI history: this device beside its type's average.
  await page.waitForSelector("#kpi-trends #kpi-trend-availability canvas");
  await page.waitForSelector("#kpi-trends #kpi-trend-response canvas");
  assert.equal(await page.getAttribute("#kpi-trend-availability", "data-lines"), "2");
  assert.match(await page.getAttribute("#kpi-trend-availability", "aria-label"), new RegExp(`Availability \\(%\\)\\. ${heartbeatDevice}: latest [\\d.]+ %`));
  assert.match(await page.getAttribute("#kpi-trend-response", "aria-label"), /Response time \(ms\)\. .*latest \d+ ms/);
  // KPIs with human names and how each is computed.
  const kpiNames = await page.$$eval("#device-kpis dt", (d) => d.map((e) => [e.textContent, e.getAttribute("title")]));
  assert.ok(kpiNames.some(([n, how]) => n === "Mean time between failures" && how.length > 10), JSON.stringify(kpiNames));
  assert.ok(!kpiNames.some(([n]) => /_/.test(n)));
  await shot(page, "heartbeat-device-1440");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("KPI trends: availability and response time per type on the overview and per device, at 1440 and 390 px", async () => {
  const history = await apiGet(base, "/api/v1/kpis/history?group_by=type&kpi=availability,response_time_ms&start=-24h");
  const types = new Set(history.series.filter((s) => s.kpi === "availability" && s.points.length).map((s) => s.type));
  assert.ok(types.size >= 2, JSON.stringify(history).slice(0, 500));
  for (const [width, height] of [[1440, 900], [390, 844]]) {
    const page = await newPage(session.context, { width, height });
    await open(page, "");
    await page.waitForSelector("#kpi-trends #kpi-trend-availability canvas");
    // One line per device type with history, each named in the text alternative.
    const lines = Number(await page.getAttribute("#kpi-trend-availability", "data-lines"));
    assert.ok(lines >= types.size - 1 && lines <= types.size + 1, `${lines} lines for ${types.size} types`);
    const label = await page.getAttribute("#kpi-trend-availability", "aria-label");
    for (const t of [...types].slice(0, 3)) assert.ok(label.includes(t + ": latest"), label);
    assert.equal(await page.$("#kpi-trends #kpi-trends-empty"), null);
    await page.$eval("#kpi-trends", (e) => e.scrollIntoView());
    await shot(page, `kpi-trends-overview-${width}`);
    // A device of the simulated fleet: its availability beside its type's.
    await open(page, "#/devices/" + chartDevice);
    await page.waitForSelector("#kpi-trends #kpi-trend-availability canvas");
    assert.equal(await page.getAttribute("#kpi-trend-availability", "data-lines"), "2");
    await open(page, "#/devices/" + heartbeatDevice);
    await page.waitForSelector("#kpi-trends #kpi-trend-response canvas");
    await page.waitForSelector('#charts .chart[data-metric="battery_level"] canvas');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${overflow}px wider than the screen`);
    await shot(page, `kpi-trends-heartbeat-device-${width}`);
    assert.deepEqual(page.errors, []);
    await page.close();
  }
});

test("the rules page has no empty element, before and after the form is used", async () => {
  const page = await newPage(session.context);
  await open(page, "#/rules");
  await page.waitForSelector("#rule-table tbody tr");
  const empties = () => page.evaluate(() => [...document.querySelectorAll("#view *")].filter((e) => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(e).visibility === "hidden") return false;
    if (["INPUT", "SELECT", "TEXTAREA", "BUTTON", "CANVAS", "OPTION", "BR", "TD", "TH"].includes(e.tagName)) return false;
    return !e.textContent.trim() && !e.querySelector("input, select, textarea, button, canvas, img, svg");
  }).map((e) => e.tagName + "#" + e.id + "." + e.className));
  assert.deepEqual(await empties(), []);
  assert.equal(await page.isVisible("#rule-form-box"), false);
  await page.click("#new-rule");
  assert.equal(await page.isVisible("#rule-form"), true);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "name");
  assert.deepEqual(await empties(), []);
  await page.click('#rule-form button[type="button"]');
  assert.equal(await page.isVisible("#rule-form-box"), false);
  assert.deepEqual(await empties(), []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the overview charts the last 24 h from the server, and every chart has a text alternative", async () => {
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "");
  await page.waitForSelector("#history-status canvas");
  const history = await apiGet(base, "/api/v1/stats/history?start=-24h");
  assert.ok(history.samples.length >= 1);
  const n = Number(await page.getAttribute("#history .history-grid", "data-samples"));
  assert.ok(Math.abs(n - history.samples.length) <= 1, `page ${n} samples, API ${history.samples.length}`);
  const last = history.samples[history.samples.length - 1];
  const status = await page.getAttribute("#history-status", "aria-label");
  assert.match(status, /online: latest \d+/);
  assert.ok(status.includes("Devices by status"), status);
  assert.ok(last.devices.total > 0);
  for (const [hash, selector] of [["", "#history-rate, #history-status, #history-alerts, #status-bar"],
    ["#/devices/" + chartDevice, ".chart, #timeline"], ["#/devices/" + vehicle, ".chart, #track-map"]]) {
    await open(page, hash);
    await page.waitForSelector(selector.split(",")[0].trim() + (hash ? "" : " canvas"));
    await page.waitForTimeout(500);
    const missing = await page.$$eval(selector, (els) => els.filter((e) => !(e.getAttribute("aria-label") || "").trim()).map((e) => e.id || e.dataset.metric));
    assert.deepEqual(missing, [], `${hash || "overview"}: charts without a text alternative`);
  }
  // Readable numbers: a value card never shows float noise like 401.29999999999995.
  const values = await page.$$eval("#latest .card .value", (v) => v.map((e) => e.textContent));
  assert.ok(values.length > 0);
  for (const v of values) assert.ok(!/\d\.\d{6,}/.test(v), v);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("every view at 1440 px and 390 px, without console errors or sideways scrolling", async () => {
  const views = [["overview", ""], ["devices", "#/devices"], ["device", "#/devices/" + chartDevice],
    ["vehicle", "#/devices/" + vehicle], ["heartbeat-device", "#/devices/" + heartbeatDevice],
    ["map", "#/map"], ["alerts", "#/alerts?state="], ["rules", "#/rules"]];
  // Playwright's Chromium reports a light system theme; the last pass is the dark one.
  for (const [width, height, scheme] of [[1440, 900, "light"], [390, 844, "light"], [1440, 900, "dark"]]) {
    const page = await newPage(session.context, { width, height });
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, hash] of views) {
      await open(page, hash);
      await page.waitForSelector("#view > *");
      await page.waitForTimeout(1200);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${name} at ${width}px: ${overflow}px wider than the screen`);
      await shot(page, `view-${name}-${width}${scheme === "dark" ? "-dark" : ""}`);
    }
    assert.deepEqual(page.errors, []);
    await page.close();
  }
});

test("the JavaScript bundle with the map stays under 250 KB gzipped", async () => {
  const html = await (await fetch(base + "/")).text();
  const scripts = [...html.matchAll(/src="([^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0, "no script in index.html");
  let raw = 0, gz = 0;
  for (const src of scripts) {
    const body = Buffer.from(await (await fetch(new URL(src, base + "/"))).arrayBuffer());
    raw += body.length;
    gz += gzipSync(body, { level: 9 }).length;
  }
  const report = `dashboard JavaScript: ${scripts.length} file(s), ${(raw / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (limit 250 KB)`;
  writeFileSync(join(artifacts, "bundle-size.txt"), report + "\n");
  console.log("# " + report);
  assert.ok(gz < 250 * 1024, report);
});
