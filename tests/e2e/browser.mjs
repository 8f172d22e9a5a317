// Shared by the end-to-end tests: Debian's Chromium driven by playwright-core (resolved from
// the dashboard's node_modules), with a fresh profile, console errors collected per page and
// screenshots written to the artifacts directory.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, "../../src/web/app/package.json"));
const { chromium } = require("playwright-core");

export const artifacts = process.env.FP_ARTIFACTS ?? resolve(here, "../../build/e2e-artifacts");
mkdirSync(artifacts, { recursive: true });

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the e2e tests are started by tests/e2e/test_e2e.py)`);
  return v;
}

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "fleetpulse-e2e-"));
  // A persistent context on a new, empty profile directory (playwright's way of passing
  // --user-data-dir); every page of a run shares it, each server origin its own storage.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A page whose console errors and uncaught exceptions are recorded in `page.errors`. Close it
// at the end of the test: each open dashboard page holds a stream connection, and Chromium
// allows six connections per server.
export async function newPage(context, viewport = { width: 1280, height: 900 }) {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  page.errors = [];
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(m.text()); });
  page.on("pageerror", (e) => page.errors.push("uncaught: " + e.message));
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, name + ".png"), fullPage: true });
}

export async function apiGet(base, path, key) {
  const res = await fetch(base + path, { headers: key ? { Authorization: "Bearer " + key } : {} });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function apiPost(base, path, body, key) {
  const headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = "Bearer " + key;
  const res = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Retries `check` (an async function that throws when not yet true) until it passes or
// `timeoutMs` runs out, then throws its last error. For pages that follow live data.
export async function eventually(check, timeoutMs = 15000, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

// One browser for the tests of a file: launched before the first, closed after the last.
// Returns an object whose `context` is set once it runs.
export function browserForFile() {
  const session = {};
  before(async () => { Object.assign(session, await launch()); });
  after(async () => { await session.close?.(); });
  return session;
}

// Opens the dashboard at `base` on `hash` (a view route) and waits until it is ready.
export async function openView(page, base, hash = "") {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
}
