// The maps: the fleet map puts every device with a position where the API says it is (marker
// coordinates and their pixels checked against GET /api/v1/devices), clusters dense areas,
// opens a device on click; a vehicle's page draws its track from the lat/lon series and
// extends it from the live stream. Run by test_e2e.py (ctest `e2e`).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { apiGet, env, eventually, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const vehicle = env("FP_VEHICLE_DEVICE");
let session;

before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

async function open(page, hash) {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
}

// Where the API puts each device: its heartbeats' geo, else its latest lat/lon readings.
async function positionsFromApi() {
  const out = new Map();
  const latest = async (m) => new Map((await apiGet(base, `/api/v1/latest?metric=${m}&limit=100000`)).devices
    .filter((d) => d.values?.[m]).map((d) => [d.device_id, d.values[m].value]));
  const [lats, lons] = await Promise.all([latest("lat"), latest("lon")]);
  let cursor = "";
  for (;;) {
    const res = await apiGet(base, "/api/v1/devices?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    for (const d of res.devices) {
      if (d.geo) out.set(d.device_id, d.geo);
      else if (lats.has(d.device_id) && lons.has(d.device_id)) out.set(d.device_id, { lat: lats.get(d.device_id), lon: lons.get(d.device_id) });
    }
    if (!res.next_cursor) return out;
    cursor = res.next_cursor;
  }
}

test("the fleet map shows every positioned device where the API puts it", async () => {
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "#/map");
  await page.waitForSelector("#fleet-map .leaflet-marker-icon");
  const api = await positionsFromApi();
  assert.ok(api.size >= 5, `only ${api.size} devices with a position`);
  await page.waitForFunction((n) => Number(document.querySelector("#fleet-map")?.dataset.devices) >= n, api.size);
  // The offline base layer: the bundled country outlines are drawn (no tile server here).
  assert.ok(await page.$$eval("#fleet-map path.leaflet-interactive, #fleet-map .leaflet-overlay-pane path", (p) => p.length) > 0);
  await shot(page, "map-1440");

  // Zoomed out, devices at the same site are clustered: the counts add up to every device.
  await page.evaluate(() => document.querySelector("#fleet-map").fpMap.setView([50, 10], 3, { animate: false }));
  await page.waitForTimeout(300);
  const counted = await page.$$eval("#fleet-map .leaflet-marker-icon", (els) =>
    els.reduce((n, e) => n + (e.dataset.count ? Number(e.dataset.count) : 1), 0));
  assert.equal(counted, api.size);
  assert.ok(await page.$("#fleet-map .cluster"), "no cluster at zoom 3");

  // At the deepest zoom nothing is clustered: each marker sits on its device's coordinates.
  await page.evaluate(() => document.querySelector("#fleet-map").fpMap.setZoom(18, { animate: false }));
  await page.waitForTimeout(300);
  // Simulated vehicles move, and the map re-reads positions only every few ticks: a marker
  // sits where the API puts its device now, or on a position the device reported in the last
  // ten minutes (its lat/lon series); a marker that is really off fails every attempt.
  const reported = async (id) => {
    const start = new Date(Date.now() - 600e3).toISOString();
    const [lat, lon] = await Promise.all(["lat", "lon"].map((m) =>
      apiGet(base, `/api/v1/devices/${encodeURIComponent(id)}/telemetry?metric=${m}&start=${start}&limit=20000`)));
    const lons = new Map(lon.points.map((p) => [p.ts, p.value]));
    return lat.points.filter((p) => lons.has(p.ts)).map((p) => ({ lat: p.value, lon: lons.get(p.ts) }));
  };
  const near = (a, b) => Math.abs(a.lat - b.lat) < 1e-3 && Math.abs(a.lon - b.lon) < 1e-3;
  const markers = await eventually(async () => {
    const now = await positionsFromApi();
    const drawn = await page.$$eval("#fleet-map .leaflet-marker-icon.pin", (els) => {
      const map = document.querySelector("#fleet-map").fpMap;
      const box = document.querySelector("#fleet-map").getBoundingClientRect();
      return els.map((e) => {
        const r = e.getBoundingClientRect();
        const want = map.latLngToContainerPoint([Number(e.dataset.lat), Number(e.dataset.lon)]);
        return { id: e.dataset.device, lat: Number(e.dataset.lat), lon: Number(e.dataset.lon), status: e.dataset.status,
          dx: r.left + r.width / 2 - box.left - want.x, dy: r.top + r.height / 2 - box.top - want.y };
      });
    });
    assert.equal(drawn.length, now.size);
    for (const m of drawn) {
      const geo = now.get(m.id);
      assert.ok(geo, `marker for ${m.id}, which the API has no position for`);
      assert.ok(near(m, geo) || (await reported(m.id)).some((p) => near(m, p)),
        `${m.id}: marker ${m.lat},${m.lon}, API ${geo.lat},${geo.lon}, and no reported position of the last 10 minutes there`);
      assert.ok(Math.abs(m.dx) <= 1.5 && Math.abs(m.dy) <= 1.5, `${m.id}: drawn ${m.dx},${m.dy} px off its position`);
      assert.ok(["online", "at_risk", "offline", "unknown"].includes(m.status));
    }
    return drawn;
  }, 20000, 500);
  // The fixed e2e devices sit exactly where they said: by heartbeat, and by telemetry only.
  const fixed = markers.find((m) => m.id === "e2e-geo");
  assert.ok(fixed);
  assert.deepEqual([fixed.lat, fixed.lon], [48.85837, 2.29448]);
  const gps = markers.find((m) => m.id === "e2e-gps-only");
  assert.ok(gps, "a device with lat/lon readings but no heartbeat position is missing");
  assert.deepEqual([gps.lat, gps.lon], [52.37403, 4.88969]);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("clicking a device on the map opens it, also from the keyboard", async () => {
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "#/map");
  await page.waitForSelector("#fleet-map .leaflet-marker-icon");
  await page.evaluate(() => document.querySelector("#fleet-map").fpMap.setView([48.85837, 2.29448], 16, { animate: false }));
  const pin = '#fleet-map .pin[data-device="e2e-geo"]';
  await page.waitForSelector(pin);
  await page.click(pin);
  await page.waitForFunction(() => location.hash === "#/devices/e2e-geo");
  await page.waitForSelector("#device-head h1");
  // The device page shows its position with 5 decimals.
  assert.match(await page.textContent("#device-head"), /48\.85837, 2\.29448/);
  await page.goBack();
  await page.waitForSelector("#fleet-map .leaflet-marker-icon");
  await page.evaluate(() => document.querySelector("#fleet-map").fpMap.setView([48.85837, 2.29448], 16, { animate: false }));
  await page.waitForSelector(pin);
  await page.focus(pin);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash === "#/devices/e2e-geo");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a vehicle's page draws its track and extends it live", async () => {
  const page = await newPage(session.context, { width: 1440, height: 900 });
  await open(page, "#/devices/" + vehicle);
  await page.waitForSelector('#position[data-range="24h"]', { timeout: 15000 });
  await page.click('button[data-range="1h"]');
  await page.waitForSelector('#position[data-range="1h"]', { timeout: 15000 });
  assert.ok(Number(await page.getAttribute("#track-map", "data-track-points")) > 1);
  // The track has the positions the API has for the hour (both coordinates at one time).
  const start = new Date(Date.now() - 3600e3).toISOString();
  const [lat, lon] = await Promise.all(["lat", "lon"].map((m) =>
    apiGet(base, `/api/v1/devices/${vehicle}/telemetry?metric=${m}&start=${start}&limit=20000&order=asc`)));
  const lons = new Set(lon.points.map((p) => p.ts));
  const paired = lat.points.filter((p) => lons.has(p.ts)).length;
  const drawn = Number(await page.getAttribute("#track-map", "data-track-points"));
  assert.ok(Math.abs(drawn - paired) <= 3, `track ${drawn} points, API ${paired}`);
  assert.ok(await page.$("#track-map path.leaflet-interactive"), "no track line");
  // New positions arrive over the stream and extend the track without a reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.waitForFunction((n) => Number(document.querySelector("#track-map")?.dataset.trackPoints) >= n + 2, drawn, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  // Its head is the vehicle's latest position.
  await eventually(async () => {
    const latest = (await apiGet(base, `/api/v1/devices/${vehicle}/latest`)).values;
    const head = (await page.getAttribute("#track-map", "data-track-head")).split(",").map(Number);
    assert.ok(Math.abs(head[0] - latest.lat.value) < 1e-3 && Math.abs(head[1] - latest.lon.value) < 1e-3, `${head} vs ${latest.lat.value},${latest.lon.value}`);
  });
  // Coordinates read as coordinates: 5 decimals, not "0.05".
  const lonCard = await page.textContent('#latest .card[data-latest="lon"] .value');
  assert.match(lonCard, /^-?\d+\.\d{5}°$/);
  await shot(page, "vehicle-1440");
  assert.deepEqual(page.errors, []);
  await page.close();
});
