"""Three real fleetpulse nodes in cluster mode on three real nats-server processes (loopback).

A write through any node is answered after JetStream acknowledged it and is applied by the
owner of the device's partition; a device's reads answer the same through every node
(forwarded to the owner); kill -9 of an owner moves its partitions to the live nodes
within the lease TTL and every acknowledged reading is there afterwards; without a JetStream
quorum a write gets 503, never a success; bad cluster input (another partition count, a node id
in use) is refused at start.
"""

from __future__ import annotations

import threading
import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, PARTITIONS, FleetpulseNode, node_by_id,
                                        partition_of, start_cluster, wait_all_owned)
from mqtt_harness import PahoClient
from nats_cluster_harness import NatsCluster

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpcluster")
    with NatsCluster() as nats:
        # Node a also runs the MQTT endpoint (devices may connect to any node).
        nodes = [FleetpulseNode("a", nats.urls, work, mqtt=True),
                 FleetpulseNode("b", nats.urls, work), FleetpulseNode("c", nats.urls, work)]
        try:
            start_cluster(nodes)
            yield nats, nodes, work
        finally:
            for n in nodes:
                n.kill()


def read(node: FleetpulseNode, path: str, timeout: float = 10.0):
    """GET `path`, retrying while the answer is 503 (a partition between owners: the node says
    so with Retry-After instead of answering from the wrong place)."""
    deadline = time.monotonic() + timeout
    while True:
        r = node.get(path)
        if r.status != 503 or time.monotonic() > deadline:
            return r
        assert r.header("Retry-After"), r
        time.sleep(0.2)


def telemetry_points(node: FleetpulseNode, device: str, metric: str = "temp") -> list[dict]:
    r = read(node, f"/api/v1/devices/{device}/telemetry?metric={metric}&start={T0 - 1}"
             f"&end={T0 + 10_000_000}&limit=10000")
    if r.status != 200:
        return []
    return r.body["points"]


def wait_points(node: FleetpulseNode, device: str, want: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    pts: list = []
    while time.monotonic() < deadline:
        pts = telemetry_points(node, device)
        if len(pts) >= want:
            return pts
        time.sleep(0.2)
    return pts


def owner_node(nodes, device: str) -> FleetpulseNode:
    served = wait_all_owned([n for n in nodes if n.running], timeout=4 * LEASE_TTL_S)
    return node_by_id(nodes, served[partition_of(device)])


def test_cluster_endpoint_health_and_metrics_describe_the_cluster(cluster):
    _, nodes, _ = cluster
    # Each node's view of the bucket is at most one lease round (1 s) old.
    deadline = time.monotonic() + 5
    while True:
        view = nodes[0].cluster()
        if all(p["owner"] for p in view["partitions"]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert view["mode"] == "cluster" and view["node_id"] == "a"
    assert view["partitions_total"] == PARTITIONS
    assert sorted(n["id"] for n in view["nodes"]) == ["a", "b", "c"]
    assert all(n["alive"] and n["advertise"].startswith("http://127.0.0.1:") for n in view["nodes"])
    assert [p["id"] for p in view["partitions"]] == list(range(PARTITIONS))
    assert all(p["owner"] in ("a", "b", "c") for p in view["partitions"]), view
    assert len(view["nats"]) == 3 and sum(1 for s in view["nats"] if s["connected"]) == 1
    health = nodes[1].get("/api/v1/health/detailed").body["components"]
    assert health["nats"]["connected"] is True and health["nats"]["node_id"] == "b"
    metrics = nodes[2].get("/metrics").text
    assert 'fleetpulse_cluster_nats_connected{node="c"} 1' in metrics
    assert "fleetpulse_cluster_partitions_owned" in metrics


def test_write_through_one_node_is_applied_by_each_devices_owner(cluster):
    _, nodes, _ = cluster
    a, b = nodes[0], nodes[1]
    devices = [f"w-dev-{i}" for i in range(24)]
    assert len({partition_of(d) for d in devices}) > 3  # spread over several partitions
    readings = [{"device_id": d, "metric": "temp", "value": float(i), "ts": T0 + i}
                for i, d in enumerate(devices)]
    r = a.post("/api/v1/telemetry", {"readings": readings})
    assert r.status == 200 and r.body["accepted"] == len(devices), r
    # A retry through another node is acknowledged too (and stored once: same Nats-Msg-Id).
    assert b.post("/api/v1/telemetry", {"readings": readings}).status == 200
    hb = b.post("/api/v1/devices/w-dev-0/heartbeat", {"battery_level": 80})
    assert hb.status == 200 and hb.body["status"] == "online", hb
    for i, d in enumerate(devices):
        owner = owner_node(nodes, d)
        pts = wait_points(owner, d, 1)
        assert [p["value"] for p in pts] == [float(i)], (d, owner.node_id, pts)
        # Every node answers a device's reads: the others forward them to the owner.
        for n in nodes:
            assert telemetry_points(n, d) == pts, (d, n.node_id)
            latest = read(n, f"/api/v1/devices/{d}/latest")
            assert latest.status == 200 and latest.body["values"]["temp"]["value"] == float(i)
    owner = owner_node(nodes, "w-dev-0")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dev = owner.get("/api/v1/devices/w-dev-0")
        if dev.status == 200 and dev.body.get("battery_level") == 80:
            break
        time.sleep(0.2)
    assert dev.status == 200 and dev.body["status"] == "online", dev


def test_mqtt_puback_after_jetstream_and_the_owner_has_the_reading(cluster):
    _, nodes, _ = cluster
    client = PahoClient(nodes[0].mqtt_port, 4, client_id="cluster-mqtt-1")
    try:
        for i in range(5):
            client.publish(f"devices/m-dev-{i}/telemetry",
                           f'{{"metric":"temp","value":{i},"ts":{T0 + 50 + i}}}', qos=1)
    finally:
        client.close()
    for i in range(5):
        owner = owner_node(nodes, f"m-dev-{i}")
        pts = wait_points(owner, f"m-dev-{i}", 1)
        assert [p["value"] for p in pts] == [float(i)], (i, owner.node_id, pts)


def test_another_partition_count_is_refused(cluster, tmp_path):
    nats, _, _ = cluster
    d = FleetpulseNode("d", nats.urls, tmp_path, partitions=PARTITIONS * 2)
    with pytest.raises(AssertionError) as e:
        d.start()
    assert f"created with {PARTITIONS} partitions" in str(e.value), d.log()[-2000:]
    d.kill()


def test_a_node_id_in_use_is_refused(cluster, tmp_path):
    nats, _, _ = cluster
    dup = FleetpulseNode("a", nats.urls, tmp_path)
    with pytest.raises(AssertionError) as e:
        dup.start()
    assert "node id 'a' is used by another live node" in str(e.value), dup.log()[-2000:]
    dup.kill()


def test_kill_9_of_an_owner_moves_its_partitions_and_loses_no_acknowledged_reading(cluster):
    _, nodes, _ = cluster
    served = wait_all_owned(nodes, timeout=4 * LEASE_TTL_S)
    counts = {n.node_id: sum(1 for o in served.values() if o == n.node_id) for n in nodes}
    victim = node_by_id(nodes, max(counts, key=counts.get))
    survivors = [n for n in nodes if n is not victim]
    acked: list[tuple[str, int]] = []
    refused = [0]
    stop = threading.Event()
    devices = [f"k-dev-{i}" for i in range(16)]

    def writer() -> None:
        i = 0
        while not stop.is_set():
            batch = [{"device_id": d, "metric": "temp", "value": float(i), "ts": T0 + 1000 + i}
                     for d in devices]
            try:
                r = survivors[i % 2].post("/api/v1/telemetry", {"readings": batch})
            except OSError:
                r = None
            if r is not None and r.status == 200:
                acked.extend((d, T0 + 1000 + i) for d in devices)
            else:
                refused[0] += 1
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        victim.kill()
        took_over = wait_all_owned(nodes, timeout=3 * LEASE_TTL_S + 10,
                                   among={n.node_id for n in survivors})
        failover_s = time.monotonic() - killed_at
        time.sleep(1.0)
    finally:
        stop.set()
        t.join()
    assert failover_s < 2 * LEASE_TTL_S + 5, failover_s
    assert victim.node_id not in took_over.values()
    assert len(acked) > 100 and refused[0] == 0, (len(acked), refused[0])
    want: dict[str, set[int]] = {}
    for d, ts in acked:
        want.setdefault(d, set()).add(ts)
    for d, stamps in want.items():
        owner = node_by_id(nodes, took_over[partition_of(d)])
        pts = wait_points(owner, d, len(stamps))
        from fleetpulse_harness import rfc3339_to_epoch
        have = {round(rfc3339_to_epoch(p["ts"]) * 1000) if isinstance(p["ts"], str) else p["ts"]
                for p in pts}
        missing = stamps - have
        assert not missing, (d, owner.node_id, len(missing), sorted(missing)[:5])
        for n in survivors:  # and through every live node (forwarded to the new owner)
            assert len(telemetry_points(n, d)) == len(pts), (d, n.node_id)
    # The killed node comes back on its data dir and rejoins the cluster.
    victim.start()
    deadline = time.monotonic() + 2 * LEASE_TTL_S
    while time.monotonic() < deadline:
        if victim.node_id in {n["id"] for n in survivors[0].cluster()["nodes"]}:
            break
        time.sleep(0.3)
    assert victim.node_id in {n["id"] for n in survivors[0].cluster()["nodes"]}
    assert (victim.data_dir / "cluster" / "applied").exists()


def test_without_a_jetstream_quorum_writes_get_503_then_resume(cluster):
    nats, nodes, _ = cluster
    live = [n for n in nodes if n.running]
    reading = {"device_id": "q-dev-1", "metric": "temp", "value": 1.0, "ts": T0 + 7}
    assert live[0].post("/api/v1/telemetry", reading).status == 200
    down = nats.servers[1:]
    for s in down:  # two of three: the R3 streams have no quorum
        nats.kill(s)
    try:
        r = live[0].post("/api/v1/telemetry", dict(reading, value=2.0, ts=T0 + 8))
        assert r.status == 503, r  # never a success the cluster did not store
        assert r.header("Retry-After") and r.body["error"]["code"] == "unavailable", r
    finally:
        for s in down:
            nats.start(s)
        nats.wait_ready()
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = live[0].post("/api/v1/telemetry", dict(reading, value=3.0, ts=T0 + 9)).status
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, "writes did not resume within 30 s of the quorum coming back"
