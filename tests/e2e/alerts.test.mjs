// Alerts and rules in the dashboard: an alert raised by hand appears live, is acknowledged and
// resolved from the page; a rule is created and edited. Run by test_e2e.py (ctest `e2e`), or
// by hand with
//   FP_BASE_URL=http://127.0.0.1:8080 node --test --test-reporter=tap tests/e2e/alerts.test.mjs
// against a server with some devices. Fails (does not skip) when the endpoints are missing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { apiGet, apiPost, env, launch, newPage, shot } from "./browser.mjs";

const base = env("FP_BASE_URL");
const device = "e2e-alert-dev";
let session;

before(async () => {
  session = await launch();
  await fetch(base + "/api/v1/devices", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ device_id: device, type: "temperature", location: "lab" }) });
  await apiPost(base, `/api/v1/devices/${device}/heartbeat`, { battery_level: 90 });
});
after(async () => { await session?.close(); });

test("an alert raised by hand appears live, is acknowledged and then resolved", async () => {
  const page = await newPage(session.context);
  await page.goto(base + "/#/alerts?state=");
  await page.waitForSelector("#alert-table");
  await page.evaluate(() => { window.__sameDocument = true; });
  const raised = await apiPost(base, "/api/v1/alerts",
    { device_id: device, severity: "critical", message: "e2e: raised by hand" });
  const id = String(raised.id);
  const row = `#alert-table tr[data-alert="${id}"]`;
  await page.waitForSelector(row, { timeout: 15000 });
  assert.equal(await page.getAttribute(row, "data-state"), "firing");

  page.once("dialog", (d) => d.accept("looking at it"));
  await page.click(`${row} button.ack`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === "acknowledged", row);
  const acked = await apiGet(base, `/api/v1/alerts?device_id=${device}`);
  const a = acked.alerts.find((x) => String(x.id) === id);
  assert.equal(a.state, "acknowledged");
  assert.ok(a.acknowledged_at);

  await page.selectOption("#alert-state", "");
  await page.waitForSelector(`${row} button.resolve`);
  await page.click(`${row} button.resolve`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === "resolved", row);
  const resolved = (await apiGet(base, `/api/v1/alerts?device_id=${device}`)).alerts.find((x) => String(x.id) === id);
  assert.equal(resolved.state, "resolved");
  assert.ok(resolved.resolved_at);
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  await shot(page, "alerts");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a rule is created and edited in the rules view", async () => {
  const page = await newPage(session.context);
  await page.goto(base + "/#/rules");
  await page.click("#new-rule");
  await page.fill('#rule-form [name="name"]', "e2e hot");
  await page.selectOption('#rule-form [name="kind"]', "threshold");
  await page.fill('#rule-form [name="metric"]', "temperature");
  await page.selectOption('#rule-form [name="op"]', ">");
  await page.fill('#rule-form [name="threshold"]', "50");
  await page.selectOption('#rule-form [name="severity"]', "critical");
  await page.fill('#rule-form [name="scope_devices"]', device);
  await page.click('#rule-form button[type="submit"]');
  await page.waitForFunction(() => [...document.querySelectorAll("#rule-table td")].some((td) => td.textContent === "e2e hot"));
  const rule = (await apiGet(base, "/api/v1/rules")).rules.find((r) => r.name === "e2e hot");
  assert.ok(rule, "the rule was not stored");
  assert.equal(rule.kind, "threshold");
  assert.equal(rule.metric, "temperature");
  assert.equal(rule.threshold, 50);
  assert.deepEqual(rule.scope.devices, [device]);

  await page.click(`#rule-table tr[data-rule="${rule.id}"] button:text("Edit")`);
  await page.fill('#rule-form [name="threshold"]', "60");
  await page.click('#rule-form button[type="submit"]');
  await page.waitForFunction((id) => document.querySelector(`#rule-table tr[data-rule="${id}"]`)?.textContent.includes("> 60"), rule.id);
  assert.equal((await apiGet(base, `/api/v1/rules/${rule.id}`)).threshold, 60);

  // The rule fires on a hot reading: the alert shows up in the alerts view.
  await apiPost(base, "/api/v1/telemetry", { device_id: device, temperature: 75 });
  await page.goto(base + "/#/alerts");
  await page.waitForFunction((d) => [...document.querySelectorAll("#alert-table tr[data-alert] a")].some((a) => a.textContent === d), device, { timeout: 15000 });
  await shot(page, "rules");
  assert.deepEqual(page.errors, []);
  await page.close();
});
