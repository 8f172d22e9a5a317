// Compatibility in a real browser (set up by test_e2e_compat.py): /docs "Try it out" sends
// requests from the page with the user's key and shows the answers; the dashboard over HTTPS
// with a self-signed certificate (pinned by its public key, not by ignoring errors); a
// cross-origin fetch with a preflight from a listed origin works and from another is refused.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { env, newPage, shot } from "./browser.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(resolve(here, "../../src/web/app/package.json"))("playwright-core");

const base = env("FP_COMPAT_BASE_URL");        // auth on, --https, --cors-origins <other>
const httpsBase = env("FP_COMPAT_HTTPS_URL");
const key = env("FP_COMPAT_KEY");
const spki = env("FP_COMPAT_SPKI");            // sha256 of the certificate's public key
const otherBase = env("FP_COMPAT_OTHER_URL");  // another origin, listed in --cors-origins
let context, profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "fleetpulse-e2e-compat-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           `--ignore-certificate-errors-spki-list=${spki}`],
  });
});
after(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
});

// Opens an operation in Swagger UI, executes it (try-it-out is on) and returns the status
// and body the page shows.
async function execute(page, opId, fill) {
  const op = page.locator(`#operations-${opId}`);
  // Deep links reopen the last operation after a reload: open it only when it is closed.
  if (!(await op.getAttribute("class")).includes("is-open"))
    await op.locator(".opblock-summary").first().click();
  if (fill) await fill(op);
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 10000 });
  const body = await op.locator(".live-responses-table .response-col_description pre").first()
    .innerText();
  return { status: (await status.innerText()).trim(), body };
}

test("/docs try it out sends requests with the user's key and shows the answers", async () => {
  const page = await newPage(context);
  await page.goto(base + "/docs");
  await page.waitForSelector(".opblock", { timeout: 15000 });
  // Without a key the page shows the server's 401.
  let shown = await execute(page, "Devices-listDevices");
  assert.equal(shown.status, "401");
  // The key the dashboard keeps is used by the docs page too.
  await page.evaluate((k) => localStorage.setItem("fleetpulse.apiKey", k), key);
  await page.reload();
  await page.waitForSelector(".opblock", { timeout: 15000 });
  shown = await execute(page, "Compatibility-compatIngest");
  assert.equal(shown.status, "200");
  assert.deepEqual(JSON.parse(shown.body), { status: "queued", device_id: "dev-1" });
  shown = await execute(page, "Devices-listDevices");
  assert.equal(shown.status, "200");
  assert.ok(JSON.parse(shown.body).devices.some((d) => d.device_id === "dev-1"), shown.body);
  await shot(page, "docs-try-it");
  // The only console error is the browser's note on the 401 asked for above.
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 401")), []);
  await page.close();
});

test("the dashboard over HTTPS with a self-signed certificate", async () => {
  const page = await newPage(context);
  const res = await page.goto(httpsBase + "/");
  assert.equal(res.status(), 200);
  assert.equal(await page.evaluate(() => location.protocol), "https:");
  const cert = await res.securityDetails();
  assert.equal(cert.subjectName, "fleetpulse-e2e");
  await page.waitForSelector("body", { timeout: 10000 });
  const health = await page.evaluate(async () => (await fetch("/health")).json());
  assert.deepEqual(health, { status: "ok" });
  await shot(page, "https-dashboard");
  await page.close();
});

test("a cross-origin call with a preflight works from a listed origin only", async () => {
  const page = await newPage(context);
  await page.goto(otherBase + "/docs");
  const call = (url, k) => page.evaluate(async ([u, k]) => {
    try {
      const r = await fetch(u + "/api/v1/devices", { headers: { Authorization: "Bearer " + k } });
      return { status: r.status, devices: (await r.json()).devices.length };
    } catch (e) {
      return { error: String(e) };
    }
  }, [url, k]);
  const ok = await call(base, key);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.ok(ok.devices >= 1);
  await page.close();
  // From the HTTPS origin (not listed) the browser refuses the answer.
  const other = await newPage(context);
  other.errors = [];
  await other.goto(httpsBase + "/docs");
  const refused = await other.evaluate(async (u) => {
    try {
      await fetch(u + "/api/v1/devices", { headers: { Authorization: "Bearer x" } });
      return "answered";
    } catch (e) {
      return "refused";
    }
  }, base);
  assert.equal(refused, "refused");
  await other.close();
});
