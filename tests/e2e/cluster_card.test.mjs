// The overview's cluster card on a real cluster: every node's overview shows the nodes, each
// partition's owner, stream and applied sequences and the lag of the partitions that node
// serves, as its GET /api/v1/cluster says, and a health line; at 1440 and 390 px.
// Run by tests/cluster/test_cluster_dashboard.py (3 nats-servers + 3 fleetpulse nodes) once
// with every node up and once after kill -9 of one: FP_CLUSTER_URLS (the live nodes' base
// URLs) and FP_CLUSTER_NODES (their ids, in the same order).
import assert from "node:assert/strict";
import { test } from "node:test";

import { apiGet, browserForFile, env, eventually, newPage, openView, shot } from "./browser.mjs";

const urls = env("FP_CLUSTER_URLS").split(",");
const ids = env("FP_CLUSTER_NODES").split(",");
const phase = env("FP_CLUSTER_PHASE");
const session = browserForFile();

// What the card shows, read from its tables.
async function cardView(page) {
  return page.evaluate(() => ({
    health: document.querySelector("#cluster-card")?.dataset.health,
    healthText: document.querySelector("#cluster-health")?.textContent,
    nodes: [...document.querySelectorAll("#cluster-nodes tbody tr")].map((r) => ({
      id: r.dataset.node, owned: r.querySelector("[data-owned]").dataset.owned })),
    partitions: [...document.querySelectorAll("#cluster-partitions tbody tr")].map((r) => ({
      id: Number(r.dataset.partition), owner: r.dataset.owner || null,
      lag: r.querySelector("[data-lag]").dataset.lag })),
  }));
}

urls.forEach((base, i) => {
  test(`${phase}: node ${ids[i]}'s overview shows the cluster as its API does`, async () => {
    for (const width of [1440, 390]) {
      const page = await newPage(session.context, { width, height: 900 });
      await openView(page, base);
      await page.waitForSelector("#cluster-card #cluster-partitions tbody tr");
      // The card refreshes every 5 s; ownership may move meanwhile: compare until they agree.
      await eventually(async () => {
        const api = await apiGet(base, "/api/v1/cluster");
        const card = await cardView(page);
        assert.equal(api.node_id, ids[i]);
        assert.deepEqual(api.nodes.map((n) => n.id).sort(), [...ids].sort(), "the API's nodes");
        assert.deepEqual(card.nodes.map((n) => n.id).sort(), [...ids].sort(), "the card's nodes");
        for (const n of api.nodes)
          assert.equal(card.nodes.find((c) => c.id === n.id).owned, n.partitions.join(","), `node ${n.id}'s partitions`);
        assert.equal(card.partitions.length, api.partitions_total);
        for (const p of api.partitions) {
          const shown = card.partitions.find((c) => c.id === p.id);
          assert.ok(p.owner && ids.includes(p.owner), `partition ${p.id} owned by ${p.owner}`);
          assert.equal(shown.owner, p.owner, `partition ${p.id}'s owner`);
          // Lag is known for the partitions this node serves, shown as a number; "–" otherwise.
          assert.equal(shown.lag, p.lag == null ? "" : String(p.lag), `partition ${p.id}'s lag`);
          if (p.owner === ids[i]) assert.notEqual(shown.lag, "", `partition ${p.id} is served here`);
        }
        assert.equal(card.health, "ok", card.healthText);
        assert.match(card.healthText, new RegExp(`^Healthy: every partition has an owner; \\d+ messages waiting to be applied on ${ids[i]}\\.$`));
      }, 30000, 500);
      const summary = await page.textContent("#cluster-summary");
      assert.match(summary, new RegExp(`Seen from node ${ids[i]}: ${ids.length} nodes, \\d+ partitions`));
      assert.match(await page.textContent("#cluster-nats"), /nats:\/\/127\.0\.0\.1:\d+ \(connected\)/);
      // The card sits right under the devices-by-status bar.
      assert.equal(await page.$eval("#cluster-card", (e) => e.previousElementSibling?.id), "status-bar");
      await page.$eval("#cluster-card", (e) => e.scrollIntoView());
      await shot(page, `cluster-card-${phase}-${ids[i]}-${width}`);
      assert.deepEqual(page.errors, []);
      await page.close();
    }
  });
});
