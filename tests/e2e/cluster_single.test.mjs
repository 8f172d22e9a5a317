// A single node has no cluster card: GET /api/v1/cluster answers {"mode":"single"} and the
// overview shows nothing of a cluster (the card itself is tested on a real 3-node cluster by
// tests/cluster/test_cluster_dashboard.py with cluster_card.test.mjs).
// Run by test_e2e.py (ctest `e2e`).
import assert from "node:assert/strict";
import { test } from "node:test";

import { apiGet, browserForFile, env, newPage, openView } from "./browser.mjs";

const base = env("FP_BASE_URL");
const session = browserForFile();

test("single-node mode: no cluster card on the overview", async () => {
  assert.deepEqual(await apiGet(base, "/api/v1/cluster"), { mode: "single" });
  const page = await newPage(session.context);
  const asked = [];
  page.on("response", (r) => { if (r.url().endsWith("/api/v1/cluster")) asked.push(r.status()); });
  await openView(page, base);
  await page.waitForSelector("#status-cards .card");
  // The page did ask (so the card would be there in cluster mode), and shows nothing of it.
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((e) => e.name.endsWith("/api/v1/cluster")));
  await page.waitForTimeout(300);
  assert.deepEqual(asked, [200]);
  assert.equal(await page.$("#cluster-card"), null);
  assert.doesNotMatch(await page.textContent("main"), /partition/i);
  assert.deepEqual(page.errors, []);
  await page.close();
});
