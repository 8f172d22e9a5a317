// The dashboard in a real browser against a real server with a simulated fleet (set up by
// test_e2e.py): it loads without console errors, lists the devices, filters by status and
// text, draws a device's charts from raw points and from aggregates, shows status changes
// without a reload, fits a phone screen, asks for an API key when auth is on, and /docs renders.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { apiGet, apiPost, env, eventually, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const chartDevice = env("FP_CHART_DEVICE");  // a simulated temperature sensor
const flipDevice = env("FP_FLIP_DEVICE");    // offline now; the test brings it back
let session;

before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

async function open(page, hash) {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
}

// Waits until the table lists exactly `ids`, in that order.
function waitForRows(page, ids) {
  return page.waitForFunction(
    (want) => [...document.querySelectorAll("#device-table tbody tr[data-device]")].map((r) => r.dataset.device).join() === want.join(),
    ids, { timeout: 10000 });
}

function rowIds(page) {
  return page.$$eval("#device-table tbody tr[data-device]", (rows) => rows.map((r) => r.dataset.device));
}

test("the overview loads without console errors and counts the fleet", async () => {
  const page = await newPage(session.context);
  await open(page, "");
  const stats = await apiGet(base, "/api/v1/stats");
  await page.waitForSelector("#status-cards .card");
  const total = await page.$eval("#status-cards .card .value", (e) => e.textContent);
  assert.equal(total, String(stats.devices.total));
  assert.ok(stats.devices.total > 50);
  await page.waitForTimeout(500);
  await shot(page, "overview");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the device table lists the simulated devices, 50 a page", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices");
  await page.waitForSelector("#device-table tbody tr[data-device]");
  const expected = (await apiGet(base, "/api/v1/devices?limit=50")).devices.map((d) => d.device_id);
  assert.deepEqual(await rowIds(page), expected);
  assert.ok(expected.some((id) => id.startsWith("sim-")));
  await page.click("#next");
  const second = (await apiGet(base, "/api/v1/devices?limit=50&cursor=" +
    encodeURIComponent((await apiGet(base, "/api/v1/devices?limit=50")).next_cursor))).devices.map((d) => d.device_id);
  await waitForRows(page, second);
  assert.equal(await page.textContent("#page-info"), `51–${50 + second.length}`);
  await shot(page, "devices");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the status filter shows only devices in that status", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices");
  await page.waitForSelector("#device-table tbody tr[data-device]");
  for (const status of ["offline", "online"]) {
    await page.selectOption("#filter-status", status);
    // Statuses move while the fleet reports: the table must match the API at some moment.
    await eventually(async () => {
      const expected = (await apiGet(base, `/api/v1/devices?status=${status}&limit=50`)).devices.map((d) => d.device_id);
      assert.ok(expected.length > 0, `no ${status} device to filter for`);
      assert.deepEqual(await rowIds(page), expected);
    });
    const badges = await page.$$eval("#device-table tbody .status .badge", (b) => b.map((e) => e.dataset.status));
    assert.ok(badges.every((s) => s === status), `${status}: ${badges}`);
    assert.match(page.url(), new RegExp(`status=${status}`));
    await shot(page, `devices-${status}`);
  }
  // Text search narrows to one device.
  await page.selectOption("#filter-status", "");
  await page.fill("#filter-q", chartDevice);
  await page.click(".filters button[type=submit]");
  await page.waitForFunction((id) => {
    const rows = [...document.querySelectorAll("#device-table tbody tr[data-device]")];
    return rows.length === 1 && rows[0].dataset.device === id;
  }, chartDevice);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("clicking a column header sorts the table on the server", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices");
  await page.waitForSelector("#device-table tbody tr[data-device]");
  for (const [click, sort] of [["battery_level", "battery_level"], ["battery_level", "-battery_level"], ["location", "location"], ["location", "-location"]]) {
    await page.click(`#device-table th[data-sort="${click}"]`);
    await eventually(async () => {
      const expected = (await apiGet(base, `/api/v1/devices?sort=${sort}&limit=50`)).devices.map((d) => d.device_id);
      assert.deepEqual(await rowIds(page), expected);
    });
    assert.match(page.url(), new RegExp(`sort=${sort.replace("-", "%2D|-")}`));
  }
  await shot(page, "devices-sorted");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a device page draws its metrics from raw points and from aggregates", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices/" + chartDevice);
  const chart = '[data-metric="temperature"]';
  await page.waitForSelector(`${chart} .uplot canvas`);
  // 24 h is drawn from aggregates; 1 h from raw points.
  assert.equal(await page.getAttribute(chart, "data-source"), "aggregates");
  assert.ok(Number(await page.getAttribute(chart, "data-points")) >= 20);
  await page.click('button[data-range="1h"]');
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.source === "raw", chart);
  const raw = Number(await page.getAttribute(chart, "data-points"));
  const api = await apiGet(base, `/api/v1/devices/${chartDevice}/telemetry?metric=temperature&start=-1h&limit=20000`);
  assert.ok(raw > 0 && Math.abs(raw - api.points.length) <= 2, `chart ${raw} points, API ${api.points.length}`);
  // The canvas is not blank: some pixels are drawn in the series colour.
  const drawn = await page.$eval(`${chart} canvas`, (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 120) n++;
    return n;
  });
  assert.ok(drawn > 50, `only ${drawn} series pixels`);
  // Dragging across the chart zooms in: the range is fetched again for the selection.
  await page.click('button[data-range="24h"]');
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.source === "aggregates", chart);
  const over = await page.$(`${chart} .u-over`);
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.90, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.source === "raw", chart);
  assert.ok(Number(await page.getAttribute(chart, "data-points")) > 0);
  // Latest values, battery and the status timeline are there too.
  await page.waitForSelector("#latest .card");
  await page.waitForSelector("#timeline .seg");
  await shot(page, "device");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a status change appears without a reload", async () => {
  const page = await newPage(session.context);
  await open(page, "#/devices?q=" + flipDevice);
  const badge = `#device-table tr[data-device="${flipDevice}"] .status .badge`;
  await page.waitForSelector(badge);
  assert.equal(await page.getAttribute(badge, "data-status"), "offline");
  await page.evaluate(() => { window.__sameDocument = true; });
  await apiPost(base, `/api/v1/devices/${flipDevice}/heartbeat`, { battery_level: 90 });
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.status === "online", badge, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was reloaded");
  // And back: without heartbeats it goes at risk on the device page, still without a reload.
  await page.click(`#device-table a[href="#/devices/${flipDevice}"]`);
  await page.waitForSelector("#device-head h1 .badge");
  await page.waitForFunction(() => ["at_risk", "offline"].includes(document.querySelector("#device-head h1 .badge")?.dataset.status), null, { timeout: 20000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was reloaded");
  await shot(page, "status-change");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("it fits a phone screen", async () => {
  const page = await newPage(session.context, { width: 390, height: 844 });
  for (const [hash, name] of [["", "phone-overview"], ["#/devices", "phone-devices"], ["#/devices/" + chartDevice, "phone-device"]]) {
    await open(page, hash);
    await page.waitForSelector("#view > *");
    await page.waitForTimeout(600);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${name}: ${overflow}px wider than the screen`);
    await shot(page, name);
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the API docs page renders every operation", async () => {
  const page = await newPage(session.context);
  await page.goto(base + "/docs");
  await page.waitForSelector(".opblock");  // Swagger UI: one block per operation
  const doc = await apiGet(base, "/api/v1/openapi.json");
  const ops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(await page.$$eval(".opblock", (d) => d.length), ops);
  await page.fill(".operation-filter-input", "Compatibility");  // filters by tag
  await page.waitForFunction(() => document.querySelectorAll(".opblock-tag-section").length === 1);
  await shot(page, "docs");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("with auth on it asks for an API key once and keeps it", async () => {
  const authBase = env("FP_AUTH_BASE_URL");
  const key = env("FP_AUTH_KEY");
  const page = await newPage(session.context);
  await page.goto(authBase + "/");
  await page.waitForSelector("#key-dialog[open]");
  await page.fill("#key-input", "wrong-key");
  await page.click("#key-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#key-error")?.textContent.includes("not accepted"));
  await page.fill("#key-input", key);
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#status-cards .card");
  await page.reload();
  await page.waitForSelector("#status-cards .card");
  assert.equal(await page.$("#key-dialog[open]"), null);
  await shot(page, "auth");
  // The browser logs each refused request; nothing else may appear.
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 401")), []);
  await page.close();
});
