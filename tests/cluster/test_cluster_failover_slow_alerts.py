"""A slow alert bucket at takeover never delays lease renewals (docs/cluster.md, "NATS server
kills and the lease thread").

The `fleetpulse_alerts` bucket is created as a one-replica stream before the nodes start, so
it lives on one nats-server, X; the nodes are given only the other two servers' addresses,
and the lease bucket's leader and the JetStream meta leader are moved off X. X is then
stopped (SIGSTOP): every request for the alert bucket waits for its timeout, nothing else
does. Then the node owning the most partitions is killed (-9). The survivors take its
partitions over; reading the gained partitions' open alerts fails only after its timeout
(`cluster_alert_adopt_failed` in their logs), and meanwhile the survivors keep renewing every
lease: no partition a survivor served before or took during the takeover is lost. (Before the
takeover thread, the read ran on the lease thread and the survivors lost their leases.) The
gained partitions' consumers start only after that read (log order), and readings written to
the moved devices afterwards are applied and readable.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.request

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, kill_all, partition_of,
                                        start_cluster, wait_all_owned)
from nats_cluster_harness import NatsCluster

T0 = 1_767_225_600_000
ALERTS_STREAM = "KV_fleetpulse_alerts"


def create_alert_bucket_on_one_server(nats: NatsCluster) -> str:
    """The alert bucket as libnats would create it, but with one replica; returns its server."""
    r = nats.request(nats.servers[0], f"$JS.API.STREAM.CREATE.{ALERTS_STREAM}", {
        "name": ALERTS_STREAM, "subjects": ["$KV.fleetpulse_alerts.>"], "retention": "limits",
        "max_msgs_per_subject": 1, "max_consumers": -1, "max_msgs": -1, "max_bytes": -1,
        "max_age": 0, "max_msg_size": -1, "storage": "file", "discard": "new",
        "num_replicas": 1, "duplicate_window": 120_000_000_000, "allow_rollup_hdrs": True,
        "deny_delete": True, "allow_direct": True})
    assert "error" not in r, r
    return r["cluster"]["leader"]


def meta_leader(nats: NatsCluster) -> str:
    s = next(x for x in nats.servers if x.proc and x.proc.poll() is None)
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/jsz", timeout=2) as r:
        return json.load(r)["meta_cluster"]["leader"]


def move_leaders_off(nats: NatsCluster, name: str, others) -> None:
    """Steps the lease bucket's stream leader and the meta leader down until neither is on
    server `name`, asking one of `others`."""
    for _ in range(20):
        lease, meta = nats.stream_leader("KV_fleetpulse_leases"), meta_leader(nats)
        if lease != name and meta != name:
            return
        if lease == name:
            nats.request(others[0], "$JS.API.STREAM.LEADER.STEPDOWN.KV_fleetpulse_leases")
        if meta == name:
            nats.request(others[0], "$JS.API.META.LEADER.STEPDOWN")
        time.sleep(1.5)
    raise AssertionError(f"leaders still on {name}")


def served_here(node: FleetpulseNode) -> set[int] | None:
    try:
        parts = node.cluster()["partitions"]
    except Exception:  # noqa: BLE001 - a slow answer is not a lost lease
        return None
    return {p["id"] for p in parts if p["owner"] == node.node_id and p["applied_seq"] is not None}


def test_a_slow_alert_bucket_at_takeover_never_costs_a_lease(tmp_path):
    with NatsCluster() as nats:
        x_name = create_alert_bucket_on_one_server(nats)
        x = next(s for s in nats.servers if s.name == x_name)
        others = [s for s in nats.servers if s is not x]
        nodes = [FleetpulseNode(n, [s.url for s in others], tmp_path) for n in ("a", "b", "c")]
        try:
            start_cluster(nodes)
            move_leaders_off(nats, x.name, others)
            served = wait_all_owned(nodes, timeout=4 * LEASE_TTL_S, balanced=True)
            counts = {n.node_id: list(served.values()).count(n.node_id) for n in nodes}
            victim = max(nodes, key=lambda n: counts[n.node_id])
            survivors = [n for n in nodes if n is not victim]
            moved = sorted(p for p, o in served.items() if o == victim.node_id)
            devices = [d for d in (f"sa-{i}" for i in range(200))
                       if partition_of(d) in moved][:12]
            log_start = {n.node_id: len(n.log()) for n in survivors}

            x.proc.send_signal(signal.SIGSTOP)  # the alert bucket now answers nothing
            try:
                lost: list = []
                stop = threading.Event()

                def watch() -> None:  # a partition a survivor served and then did not
                    last = {n.node_id: served_here(n) for n in survivors}
                    while not stop.is_set():
                        for n in survivors:
                            now = served_here(n)
                            if now is not None and last[n.node_id] is not None:
                                gone = last[n.node_id] - now
                                if gone:
                                    lost.append((n.node_id, sorted(gone)))
                            if now is not None:
                                last[n.node_id] = now
                        time.sleep(0.2)

                watcher = threading.Thread(target=watch)
                watcher.start()
                try:
                    time.sleep(1)
                    victim.kill()
                    took_over = wait_all_owned(nodes, timeout=3 * LEASE_TTL_S + 10,
                                               among={n.node_id for n in survivors})
                    # The adoption of every gained partition failed (the bucket's timeout)
                    # and the survivors went on renewing through it.
                    for n in survivors:
                        if not any(took_over[p] == n.node_id for p in moved):
                            continue
                        deadline = time.monotonic() + 15
                        while "cluster_alert_adopt_failed" not in n.log()[log_start[n.node_id]:] \
                                and time.monotonic() < deadline:
                            time.sleep(0.3)
                    time.sleep(2 * LEASE_TTL_S / 3)  # longer than a lease's margin
                finally:
                    stop.set()
                    watcher.join()
                assert not lost, f"leases lost while the alert bucket was slow: {lost}"

                for n in survivors:
                    gained = [p for p in moved if took_over[p] == n.node_id]
                    for p in gained:  # the consumer started only after the adoption returned
                        # (a stream whose leader was on X first re-elects: wait for the start)
                        pattern = rf"event=cluster_partition_applying partition={p} "
                        deadline = time.monotonic() + 30
                        log = n.log()[log_start[n.node_id]:]
                        while not re.search(pattern, log) and time.monotonic() < deadline:
                            time.sleep(0.5)
                            log = n.log()[log_start[n.node_id]:]
                        adopt = log.find("event=cluster_alert_adopt_failed")
                        assert adopt >= 0, f"{n.node_id}: the alert bucket answered: {log[-3000:]}"
                        m = re.search(pattern, log)
                        assert m and m.start() > adopt, (n.node_id, p, log[-3000:])

                # The gained partitions' consumers run: new readings are applied.
                for i, d in enumerate(devices):
                    r = survivors[i % 2].post("/api/v1/telemetry", {
                        "device_id": d, "metric": "temp", "value": float(i), "ts": T0 + i})
                    deadline = time.monotonic() + 15
                    while r.status != 200 and time.monotonic() < deadline:
                        time.sleep(0.5)  # a partition stream whose leader was on X re-elects
                        r = survivors[i % 2].post("/api/v1/telemetry", {
                            "device_id": d, "metric": "temp", "value": float(i), "ts": T0 + i})
                    assert r.status == 200, r
                for i, d in enumerate(devices):
                    owner = next(n for n in survivors if n.node_id == took_over[partition_of(d)])
                    deadline = time.monotonic() + 15
                    points = []
                    while time.monotonic() < deadline:
                        got = owner.get(f"/api/v1/devices/{d}/telemetry?metric=temp&start={T0}"
                                        f"&end={T0 + 1000}")
                        points = got.body.get("points", []) if got.status == 200 else []
                        if points:
                            break
                        time.sleep(0.3)
                    assert [p["value"] for p in points] == [float(i)], (d, points)
            finally:
                x.proc.send_signal(signal.SIGCONT)
        finally:
            kill_all(nodes)
