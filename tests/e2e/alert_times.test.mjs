// Alert times (issue 17): an alert raised from backfilled (late) data shows when its condition
// happened — the reading's time, the API's `condition_at` — not when the server raised it, with
// the raise time in the detail. Needs the `condition_at` field (durable's part of issue 17):
// without it this test fails and says so. Run by test_alert_times_e2e.py.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { apiGet, apiPost, env, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const device = "e2e-late";
let session;

before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

test("an alert from backfilled data shows its condition time, not its raise time", async () => {
  await apiPost(base, "/api/v1/rules", { name: "e2e late hot", kind: "threshold", metric: "temperature",
    op: ">", threshold: 50, severity: "warning", scope: { devices: [device] } });
  const readingTs = Date.now() - 3 * 3600e3;  // three hours late
  await apiPost(base, "/api/v1/telemetry", { device_id: device, ts: readingTs, temperature: 80 });
  let alert;
  for (let i = 0; i < 60 && !alert; i++) {
    alert = (await apiGet(base, `/api/v1/alerts?device_id=${device}`)).alerts[0];
    if (!alert) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(alert, "no alert was raised for the late reading");
  assert.ok("condition_at" in alert, "the alert API has no condition_at field yet (issue 17, the durable branch)");
  assert.equal(Date.parse(alert.condition_at), readingTs);

  const page = await newPage(session.context);
  await page.goto(base + "/#/alerts?state=");
  const cell = `#alert-table tr[data-alert="${alert.id}"] td.when`;
  await page.waitForSelector(cell);
  assert.equal(Date.parse(await page.getAttribute(cell, "data-condition-at")), readingTs);
  assert.match(await page.textContent(`${cell} time`), /^3 h ago$/);
  assert.match(await page.textContent(`${cell} .raised`), /raised 3 h/);
  assert.match(await page.getAttribute(cell, "title"), /condition at .*; raised at /);
  await shot(page, "alert-condition-time");
  assert.deepEqual(page.errors, []);
  await page.close();
});
