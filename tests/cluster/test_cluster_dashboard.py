"""The dashboard's cluster card on a real cluster: three nats-servers, three fleetpulse nodes
(loopback), readings written through one node, then tests/e2e/cluster_card.test.mjs in
Chromium against every node's overview — once with all three nodes, once after kill -9 of one
(its partitions moved to the two left). Single-node mode (no card) is in the e2e suite
(cluster_single.test.mjs). Screenshots: $FLEETPULSE_E2E_ARTIFACTS."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from fleetpulse_cluster_harness import LEASE_TTL_S, FleetpulseNode, start_cluster, wait_all_owned
from fleetpulse_harness import REPO_ROOT, hermetic_env, wait_until
from nats_cluster_harness import NatsCluster

E2E = Path(__file__).resolve().parent.parent / "e2e"
ARTIFACTS = Path(os.environ.get("FLEETPULSE_E2E_ARTIFACTS", REPO_ROOT / "build" / "e2e-artifacts"))
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms


def card_suite(nodes: list[FleetpulseNode], phase: str) -> None:
    """Runs cluster_card.test.mjs against `nodes`: one passing test per node, no failure."""
    env = hermetic_env({"FP_CLUSTER_URLS": ",".join(n.base_url for n in nodes),
                        "FP_CLUSTER_NODES": ",".join(n.node_id for n in nodes),
                        "FP_CLUSTER_PHASE": phase, "FP_ARTIFACTS": str(ARTIFACTS)})
    proc = subprocess.run(["node", "--test", "--test-reporter=tap", "cluster_card.test.mjs"],
                          env=env, cwd=E2E, capture_output=True, text=True, timeout=300)
    (ARTIFACTS / f"cluster-card-{phase}.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "# fail 0" in proc.stdout and f"# pass {len(nodes)}" in proc.stdout, proc.stdout[-3000:]


def test_cluster_card_on_every_node_before_and_after_a_node_dies(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with NatsCluster() as nats:
        nodes = [FleetpulseNode(n, nats.urls, tmp_path) for n in ("a", "b", "c")]
        try:
            start_cluster(nodes)
            # Readings for many devices (so most partitions' streams have messages).
            readings = [{"device_id": f"card-{k}", "ts": T0 + k, "temp": k} for k in range(64)]
            r = nodes[0].post("/api/v1/telemetry", readings)
            assert r.status == 200, r
            # Each node refreshes the streams' last sequences on its lease rounds.
            def written_everywhere() -> bool:
                return all(sum(1 for p in n.cluster()["partitions"] if p["last_seq"] > 0) >= 4
                           for n in nodes)
            wait_until(written_everywhere, timeout=4 * LEASE_TTL_S,
                       message="stream sequences of the written partitions on every node")
            card_suite(nodes, "three-nodes")

            dead = nodes[2]
            dead.kill()
            live = nodes[:2]
            wait_all_owned(live, timeout=6 * LEASE_TTL_S, among={"a", "b"})
            deadline = time.monotonic() + 4 * LEASE_TTL_S
            while time.monotonic() < deadline and not all(
                    len(n.cluster()["nodes"]) == 2 for n in live):
                time.sleep(0.2)
            card_suite(live, "after-kill")
        finally:
            for n in nodes:
                n.kill()
