// Issue 17, "KPI trends ... a clear empty state before": on a server that has no KPI history
// yet (sampled every hour, started just now), the overview and a device page say so in words —
// no empty or misleading chart, no "0.0 %" for a device that never reported — for a fleet
// without devices, a device that never reported and a device that reported but has no history.
// Run by test_e2e.py (ctest `e2e`) against its server "empty".
import assert from "node:assert/strict";
import { test } from "node:test";

import { apiGet, apiPost, browserForFile, env, newPage, openView, shot } from "./browser.mjs";

const base = env("FP_EMPTY_BASE_URL");
const session = browserForFile();
const open = (page, hash) => openView(page, base, hash);

const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
const canvases = (page, sel) => page.$$eval(sel + " canvas", (l) => l.length);

for (const width of [1440, 390]) {
  test(`a fleet without devices and without KPI history says so on the overview (${width} px)`, async () => {
    assert.equal((await apiGet(base, "/api/v1/kpis/history?group_by=type&start=-24h")).series.length, 0);
    const page = await newPage(session.context, { width, height: 900 });
    await open(page, "");
    await page.waitForSelector("#kpi-trends #kpi-trends-empty");
    assert.match(await text(page, "#kpi-trends-empty"), /No KPI history in the last 24 h yet: the server samples KPIs every 1h/);
    assert.equal(await canvases(page, "#kpi-trends"), 0);
    // The fleet KPI table of a fleet without devices is a sentence, not a row of dashes.
    await page.waitForSelector("#kpis-empty");
    assert.match(await text(page, "#kpis-empty"), /No devices yet/);
    assert.equal(await page.$("#kpi-table"), null);
    // One sample of the fleet's history is not a chart (it was drawn as a dot on a wrong axis).
    await page.waitForSelector("#history-empty");
    assert.match(await text(page, "#history-empty"), /every 1h/);
    assert.equal(await canvases(page, "#history"), 0);
    await page.$eval("#kpi-trends", (e) => e.scrollIntoView());
    await shot(page, `kpi-empty-overview-${width}`);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
}

test("a device that never reported: no KPI figures, no charts, each section says why", async () => {
  await apiPost(base, "/api/v1/devices", { device_id: "e2e-never", type: "pump", location: "lab" });
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "#/devices/e2e-never");
  await page.waitForSelector("#device-kpis-empty");
  assert.match(await text(page, "#device-kpis-empty"), /has not reported/);
  assert.equal(await page.$("#device-kpis dd"), null, "KPI figures (0.0 %) for a device that never reported");
  await page.waitForSelector("#kpi-trends #kpi-trends-empty");
  assert.match(await text(page, "#kpi-trends-empty"), /No KPI history for this device in the last 24 h yet: the server samples KPIs every 1h/);
  assert.equal(await canvases(page, "#kpi-trends"), 0);
  // No status chart drawing "offline" for a device whose status is unknown.
  await page.waitForSelector("#charts-empty");
  assert.match(await text(page, "#charts-empty"), /first heartbeat or reading/);
  assert.equal(await canvases(page, "#charts"), 0);
  await shot(page, "kpi-empty-device-never-1440");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a device that reported but has no KPI history yet: its KPIs, and the trends' empty state", async () => {
  await apiPost(base, "/api/v1/heartbeat", { device_id: "e2e-reported", battery_level: 77, ts: Date.now() / 1000 - 0.2 });
  const kpis = await apiGet(base, "/api/v1/devices/e2e-reported/kpis?window=24h");
  assert.equal(kpis.messages, 1);
  for (const width of [1440, 390]) {
    const page = await newPage(session.context, { width, height: 900 });
    await open(page, "#/devices/e2e-reported");
    await page.waitForSelector("#device-kpis dd");
    assert.equal(await page.$("#device-kpis-empty"), null);
    await page.waitForSelector("#kpi-trends #kpi-trends-empty");
    assert.match(await text(page, "#kpi-trends-empty"), /No KPI history for this device/);
    assert.equal(await canvases(page, "#kpi-trends"), 0);
    await page.$eval("#kpi-trends", (e) => e.scrollIntoView());
    await shot(page, `kpi-empty-device-reported-${width}`);
    assert.deepEqual(page.errors, []);
    await page.close();
  }
});
