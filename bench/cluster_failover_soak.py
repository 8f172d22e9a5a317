#!/usr/bin/env python3
"""Failover soak: 3 nats-servers + 3 fleetpulse nodes under write load from several HTTP
clients; each round kill -9 the node owning the most partitions and one NATS server, then
restart both. Every acknowledged reading must be readable through every node at the end.

Prints per round: time until writes succeed again after the kill, time until every device's
reads answer again, and at the end the count of acknowledged readings missing (must be 0).

  FLEETPULSE_BIN=build/release/src/app/fleetpulse python3 bench/cluster_failover_soak.py \
      --rounds 5 --clients 4 --devices 40
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from fleetpulse_cluster_harness import LEASE_TTL_S, FleetpulseNode, wait_all_owned  # noqa: E402
from nats_cluster_harness import NatsCluster  # noqa: E402

T0 = 1_767_225_600_000


class Writers:
    """Clients writing one reading per device per request; record what was acknowledged."""

    def __init__(self, nodes, devices, clients):
        self.nodes, self.devices = nodes, devices
        self.acked: dict[str, set[int]] = {d: set() for d in devices}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_ok = time.monotonic()
        self.resume_after = 0.0  # successes of requests sent before this do not count
        self.seq = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(clients)]

    def run(self, i: int) -> None:
        rnd = random.Random(i)
        while not self.stop.is_set():
            with self.lock:
                self.seq += 1
                ts = T0 + self.seq
            batch = rnd.sample(self.devices, 5)
            up = [n for n in self.nodes if n.running]
            if not up:
                time.sleep(0.05)
                continue
            node = rnd.choice(up)
            started = time.monotonic()
            try:
                r = node.post("/api/v1/telemetry", {"readings": [
                    {"device_id": d, "metric": "temp", "value": float(ts % 1000), "ts": ts}
                    for d in batch]})
            except Exception:  # noqa: BLE001 - a killed node
                time.sleep(0.05)
                continue
            if r.status == 200:
                with self.lock:
                    for d in batch:
                        self.acked[d].add(ts)
                    if started >= self.resume_after:  # sent after the kill: writes resumed
                        self.last_ok = time.monotonic()
            else:
                time.sleep(0.05)


def timestamps(node, device) -> set[int] | None:
    r = node.get(f"/api/v1/devices/{device}/telemetry?metric=temp&start={T0}"
                 f"&end={T0 + 10_000_000}&limit=100000")
    if r.status != 200:
        return None
    return {p_ts_ms(p["ts"]) for p in r.body["points"]}


def p_ts_ms(text: str) -> int:
    from datetime import datetime
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--kill-nats", action="store_true", default=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fp-soak-"))
    devices = [f"soak-{i}" for i in range(args.devices)]
    with NatsCluster() as nats:
        nodes = [FleetpulseNode(n, nats.urls, work) for n in ("a", "b", "c")]
        try:
            for n in nodes:
                n.start()
            wait_all_owned(nodes, timeout=10 * LEASE_TTL_S, balanced=True)
            w = Writers(nodes, devices, args.clients)
            for t in w.threads:
                t.start()
            print("round  victim  nats  writes_resumed_s  reads_resumed_s")
            for rnd in range(1, args.rounds + 1):
                time.sleep(3)
                views = {n.node_id: sum(p["owner"] == n.node_id for p in n.cluster()["partitions"])
                         for n in nodes}
                victim = max(nodes, key=lambda n: views[n.node_id])
                server = nats.servers[rnd % len(nats.servers)]
                killed_at = time.monotonic()
                w.resume_after = killed_at
                victim.kill()
                if args.kill_nats:
                    nats.kill(server)
                while w.last_ok <= killed_at and time.monotonic() - killed_at < 60:
                    time.sleep(0.05)
                writes_s = w.last_ok - killed_at
                live = [n for n in nodes if n is not victim]
                failing: list = []
                while time.monotonic() - killed_at < 90:
                    failing = [d for d in devices if timestamps(live[0], d) is None]
                    if not failing:
                        break
                    time.sleep(0.2)
                if failing:
                    r = live[0].get(f"/api/v1/devices/{failing[0]}/telemetry?metric=temp")
                    print(f"  reads still failing for {len(failing)} devices, e.g. {r!r}",
                          flush=True)
                reads_s = time.monotonic() - killed_at
                print(f"{rnd:5d}  {victim.node_id:6s}  {server.name:4s}  {writes_s:16.1f}"
                      f"  {reads_s:15.1f}", flush=True)
                if args.kill_nats:
                    nats.start(server)
                    # One server down at a time is the guarantee: wait until the restarted
                    # server is current again (its /healthz) before the next round's kill.
                    healthy_at = time.monotonic()
                    while time.monotonic() - healthy_at < 120:
                        try:
                            with urllib.request.urlopen(
                                    f"http://127.0.0.1:{server.http_port}/healthz", timeout=2) as h:
                                if h.status == 200:
                                    break
                        except OSError:
                            pass
                        time.sleep(0.5)
                    print(f"  {server.name} healthy again after "
                          f"{time.monotonic() - healthy_at:.1f}s", flush=True)
                # Its presence key must expire before its id may join again.
                while victim.node_id in {x["id"] for x in live[0].cluster()["nodes"]}:
                    time.sleep(0.3)
                victim.start()
                wait_all_owned(nodes, timeout=10 * LEASE_TTL_S)
            w.stop.set()
            for t in w.threads:
                t.join()
            wait_all_owned(nodes, timeout=10 * LEASE_TTL_S)
            missing = 0
            total = sum(len(v) for v in w.acked.values())
            for d in devices:
                for n in nodes:
                    deadline = time.monotonic() + 30
                    got = timestamps(n, d)
                    while (got is None or not w.acked[d] <= got) and time.monotonic() < deadline:
                        time.sleep(0.3)
                        got = timestamps(n, d)
                    missing += len(w.acked[d] - (got or set()))
            print(f"acknowledged readings: {total}; missing through any node: {missing}")
            return 0 if missing == 0 else 1
        finally:
            for n in nodes:
                n.kill()


if __name__ == "__main__":
    sys.exit(main())
