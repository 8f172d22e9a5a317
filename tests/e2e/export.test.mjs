// Export buttons: the device page (this device, the selected range, CSV or NDJSON) and the
// device list (the current filter) download files through the streamed export route, and the
// rows equal the API's: the export route itself and the points the telemetry query returns.
// Run by test_e2e.py (ctest `e2e`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { apiGet, env, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const device = env("FP_EXPORT_DEVICE");  // 2 metrics × 30 points, an hour or two ago
let session;

before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

async function open(page, hash) {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
}

async function download(page, link) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
  const path = await file.path();
  return { name: file.suggestedFilename(), url: file.url(), text: readFileSync(path, "utf8") };
}

async function fetchText(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return res.text();
}

test("the device page exports the selected range as CSV and NDJSON", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices/" + device);
  await page.waitForSelector('[data-metric="temperature"] canvas');
  await page.click('button[data-range="6h"]');
  const csv = await download(page, "#device-export-link");
  assert.match(csv.name, new RegExp(`^${device}_.*\\.csv$`));
  const url = new URL(csv.url);
  assert.equal(url.pathname, "/api/v1/export");
  assert.equal(url.searchParams.get("device_id"), device);
  assert.equal(url.searchParams.get("format"), "csv");
  const span = Date.parse(url.searchParams.get("end")) - Date.parse(url.searchParams.get("start"));
  assert.ok(Math.abs(span - 6 * 3600e3) < 60e3, `range ${span} ms`);
  const lines = csv.text.trim().split("\n");
  assert.equal(lines[0], "device_id,metric,ts,value");
  // The same as the API's export of that URL, and the same points as the telemetry query.
  assert.equal(csv.text, await fetchText(csv.url));
  const rows = lines.slice(1).map((l) => l.split(","));
  assert.equal(rows.length, 60);
  for (const metric of ["humidity", "temperature"]) {
    const api = await apiGet(base, `/api/v1/devices/${device}/telemetry?metric=${metric}&start=${url.searchParams.get("start")}&end=${url.searchParams.get("end")}&limit=1000&order=asc`);
    const mine = rows.filter((r) => r[1] === metric).map((r) => [r[2], Number(r[3])]);
    assert.deepEqual(mine, api.points.map((p) => [p.ts, p.value]));
  }

  await page.selectOption("#device-export-format", "ndjson");
  const nd = await download(page, "#device-export-link");
  assert.match(nd.name, /\.ndjson$/);
  assert.equal(nd.text, await fetchText(nd.url));
  const objs = nd.text.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(objs.length, 60);
  assert.deepEqual(objs.map((o) => [o.metric, o.ts, o.value]), rows.map((r) => [r[1], r[2], Number(r[3])]));
  assert.ok(objs.every((o) => o.device_id === device));
  await shot(page, "device-export");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the device list exports the devices of the current filter", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices?q=e2e-export");
  await page.waitForSelector(`#device-table tr[data-device="${device}"]`);
  const csv = await download(page, "#list-export-link");
  const url = new URL(csv.url);
  assert.equal(url.searchParams.get("q"), "e2e-export");
  assert.equal(csv.text, await fetchText(csv.url));
  const rows = csv.text.trim().split("\n").slice(1).map((l) => l.split(","));
  // Every device the filter lists, and only those.
  const listed = (await apiGet(base, "/api/v1/devices?q=e2e-export")).devices.map((d) => d.device_id);
  assert.deepEqual([...new Set(rows.map((r) => r[0]))].sort(), listed.filter((id) => rows.some((r) => r[0] === id)).sort());
  assert.ok(rows.every((r) => listed.includes(r[0])));
  assert.equal(rows.filter((r) => r[0] === device).length, 60);
  // A narrower filter narrows the export: a status filter is passed on too.
  await page.selectOption("#filter-status", "offline");
  await page.waitForFunction(() => location.hash.includes("status=offline"));
  const off = await download(page, "#list-export-link");
  assert.equal(new URL(off.url).searchParams.get("status"), "offline");
  assert.equal(off.text, await fetchText(off.url));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("with auth on, the export link carries the stored key and downloads", async () => {
  const authBase = env("FP_AUTH_BASE_URL");
  const key = env("FP_AUTH_KEY");
  const page = await newPage(session.context);
  await page.goto(authBase + "/#/devices");
  await page.waitForSelector("#key-dialog[open]");
  await page.fill("#key-input", key);
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#device-table tbody tr[data-device]");
  const csv = await download(page, "#list-export-link");
  // The link carries no key: the HttpOnly session cookie authenticates the download.
  assert.equal(new URL(csv.url).searchParams.get("api_key"), null);
  const lines = csv.text.trim().split("\n");
  assert.equal(lines[0], "device_id,metric,ts,value");
  assert.ok(lines.length > 1, "the export is empty");
  // Outside the browser (no session cookie) the same URL is refused.
  const bare = new URL(csv.url);
  bare.searchParams.delete("api_key");
  assert.equal((await fetch(bare)).status, 401);
  await page.evaluate(() => localStorage.removeItem("fleetpulse.apiKey"));
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 401")), []);
  await page.close();
});
