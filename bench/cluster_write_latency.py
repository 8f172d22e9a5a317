#!/usr/bin/env python3
"""Write acknowledgement latency: one node vs a 3-node cluster (3 nats-servers, R3), loopback.

Sequential POST /api/v1/telemetry requests (one client, keep-alive), each with `--batch`
readings of distinct devices; prints p50/p99 of the answer time and readings/s for both.
A rough first figure for docs/cluster.md, not the full benchmark of issue 12.

  FLEETPULSE_BIN=build/release/src/app/fleetpulse python3 bench/cluster_write_latency.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from fleetpulse_cluster_harness import FleetpulseNode, wait_all_owned  # noqa: E402
from fleetpulse_harness import FleetpulseServer, exchange  # noqa: E402
from nats_cluster_harness import NatsCluster  # noqa: E402


def run(server, requests: int, batch: int) -> tuple[list[float], float]:
    conn = server.connect()
    times = []
    t0 = time.monotonic()
    for i in range(requests):
        body = {"readings": [{"device_id": f"bench-{j}", "metric": "temp", "value": float(i),
                              "ts": 1_767_225_600_000 + i} for j in range(batch)]}
        s = time.monotonic()
        r = exchange(conn, "POST", "/api/v1/telemetry", body)
        times.append((time.monotonic() - s) * 1000)
        assert r.status == 200, r
    elapsed = time.monotonic() - t0
    conn.close()
    return times, requests * batch / elapsed


def report(name: str, times: list[float], rate: float) -> dict:
    q = statistics.quantiles(times, n=100)
    out = {"setup": name, "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2),
           "readings_per_s": round(rate)}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        single = FleetpulseServer(work / "single", work / "single.log").start()
        try:
            report("single node", *run(single, a.requests, a.batch))
        finally:
            single.kill()
        with NatsCluster() as nats:
            nodes = [FleetpulseNode(n, nats.urls, work) for n in ("a", "b", "c")]
            try:
                for n in nodes:
                    n.start()
                wait_all_owned(nodes, timeout=60)
                report("3 nodes, 3 nats, R3", *run(nodes[0], a.requests, a.batch))
            finally:
                for n in nodes:
                    n.kill()


if __name__ == "__main__":
    main()
