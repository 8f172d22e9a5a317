"""Device registrations and updates through the partition stream (docs/cluster.md "Device
registrations and updates"), on three real nats-servers and three real nodes.

POST /api/v1/devices and PUT / PATCH / DELETE /api/v1/devices/{id} through any node reach the
device's owner (409 / 404 from its catalog) and go through the partition's stream (a 'D' share;
'R' for a removal); a registration or update is answered once the owner has applied it: read
right after the answer through every node, it is the same row. Devices registered on the fly
by a heartbeat, telemetry or MQTT are the cluster's devices too (409 on create, updatable
through any node). kill -9 of the owner right after the answers loses nothing: the new owner
rebuilds the same rows (times included) from the stream; the killed node, restarted without its
applied checkpoint and left alone (the other two killed), applies every change a second time
over its own catalog and still has the same rows.
"""

from __future__ import annotations

import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, kill_all, node_by_id,
                                        partition_of, served_by, start_cluster,
                                        wait_all_owned)
from mqtt_harness import PahoClient
from nats_cluster_harness import NatsCluster

# The device fields a write sets; compared as read through every node.
FIELDS = ("device_id", "name", "type", "location", "metadata", "config", "created_at",
          "updated_at")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpdevices")
    with NatsCluster() as nats:
        nodes = [FleetpulseNode("a", nats.urls, work, mqtt=True),
                 FleetpulseNode("b", nats.urls, work), FleetpulseNode("c", nats.urls, work)]
        try:
            start_cluster(nodes)
            yield nodes
        finally:
            kill_all(nodes)


def device_owned_by(node: FleetpulseNode, prefix: str, among: set[int] | None = None) -> str:
    parts = served_by(node) & (among if among is not None else served_by(node))
    return next(d for d in (f"{prefix}{i}" for i in range(1000)) if partition_of(d) in parts)


def core(body: dict) -> dict:
    return {k: body.get(k) for k in FIELDS}


def read_everywhere(nodes, device: str, timeout: float = 0.0) -> list[dict]:
    """The device as every running node answers it, retrying a 503 (no owner) up to `timeout`."""
    out = []
    for n in nodes:
        if not n.running:
            continue
        deadline = time.monotonic() + timeout
        while True:
            r = n.get(f"/api/v1/devices/{device}")
            if r.status != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status == 200, (n.node_id, device, r)
        out.append(core(r.body))
    return out


def test_create_put_patch_through_any_node_read_the_same_everywhere_at_once(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=4 * LEASE_TTL_S, balanced=True)
    for i, owner in enumerate(nodes):
        via = nodes[(i + 1) % 3]  # not the owner: forwarded
        other = nodes[(i + 2) % 3]
        device = device_owned_by(owner, f"reg-{owner.node_id}-")
        body = {"device_id": device, "name": f"Pump {i}", "type": "pump", "location": "hall",
                "metadata": {"floor": 1, "nested": {"x": 1}}, "config": {"rate": 5},
                "status": "inactive"}
        r = via.post("/api/v1/devices", body)
        assert r.status == 201, (via.node_id, r)
        created = core(r.body)
        assert created["name"] == f"Pump {i}" and created["type"] == "pump", created
        assert created["metadata"] == {"floor": 1, "nested": {"x": 1}, "enabled": False}, created
        # Right after the answer, no waiting: the same row through every node.
        assert read_everywhere(nodes, device) == [created] * 3
        # The owner's catalog decides a duplicate, whichever node is asked.
        for n in nodes:
            r = n.post("/api/v1/devices", {"device_id": device})
            assert r.status == 409 and r.body["error"]["code"] == "conflict", (n.node_id, r)
        # PUT through another node replaces metadata; fields it does not name stay.
        r = other.put(f"/api/v1/devices/{device}", {"name": "Renamed", "metadata": {"k": 2}})
        assert r.status == 200, r
        put = core(r.body)
        assert put["name"] == "Renamed" and put["metadata"] == {"k": 2}, put
        assert put["type"] == "pump" and put["created_at"] == created["created_at"], put
        assert read_everywhere(nodes, device) == [put] * 3
        # PATCH through the third merges.
        r = via.patch(f"/api/v1/devices/{device}",
                      {"location": "roof", "metadata": {"z": 1}, "config": {"mode": "eco"}})
        assert r.status == 200, r
        patched = core(r.body)
        assert patched["metadata"] == {"k": 2, "z": 1}, patched
        assert patched["config"] == {"rate": 5, "mode": "eco"}, patched
        assert patched["location"] == "roof" and patched["name"] == "Renamed", patched
        assert read_everywhere(nodes, device) == [patched] * 3
        # Listed (gathered from the owners) through every node.
        for n in nodes:
            deadline = time.monotonic() + 10
            while True:  # complete once this node's view of the owners caught up (1 s rounds)
                r = n.get("/api/v1/devices?type=pump&limit=1000")
                if r.status != 200 or not r.body.get("partial") or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert r.status == 200 and not r.body.get("partial"), r
            listed = [core(d) for d in r.body["devices"] if d["device_id"] == device]
            assert listed == [patched], (n.node_id, listed)
    # Updates of a device nobody has: 404 through every node; bad input stays 4xx.
    for n in nodes:
        assert n.put("/api/v1/devices/reg-nobody", {"name": "x"}).status == 404
        assert n.patch("/api/v1/devices/reg-nobody", {"name": "x"}).status == 404
        assert n.post("/api/v1/devices", raw="{not json",
                      headers={"Content-Type": "application/json"}).status == 400
        assert n.post("/api/v1/devices", {"name": "no id"}).status == 422
        r = n.put(f"/api/v1/devices/{device}", {"device_id": "another"})
        assert r.status == 422, r
    # Removal through a node that is not the owner (forwarded too), then registration again
    # through another: in stream order, the new row everywhere.
    owner = nodes[2]
    assert served_by(owner) & {partition_of(device)}
    r = nodes[0].delete(f"/api/v1/devices/{device}")
    assert r.status == 204, r
    for n in nodes:
        assert n.get(f"/api/v1/devices/{device}").status == 404, n.node_id
    r = nodes[1].post("/api/v1/devices", {"device_id": device, "name": "Reborn"})
    assert r.status == 201 and r.body["name"] == "Reborn", r
    assert read_everywhere(nodes, device) == [core(r.body)] * 3


def test_devices_registered_by_reports_are_the_clusters_devices(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=4 * LEASE_TTL_S, balanced=True)
    a = node_by_id(nodes, "a")
    owner = next(n for n in nodes if n is not a)
    hb = device_owned_by(owner, "auto-hb-")
    tel = device_owned_by(owner, "auto-tel-")
    mq = device_owned_by(owner, "auto-mq-")
    assert a.post("/api/v1/heartbeat", {"device_id": hb, "battery_level": 70}).status == 200
    r = a.post("/api/v1/telemetry", {"readings": [{"device_id": tel, "metric": "temp",
                                                   "value": 1.5}]})
    assert r.status == 200, r
    client = PahoClient(a.mqtt_port, 4, client_id="devices-auto-1")
    try:
        client.publish(f"devices/{mq}/telemetry", '{"metric":"temp","value":2.5}', qos=1)
    finally:
        client.close()
    for device in (hb, tel, mq):
        deadline = time.monotonic() + 10
        while True:  # applied by the owner a moment after the ack
            rows = [n.get(f"/api/v1/devices/{device}").status for n in nodes]
            if rows == [200] * 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert rows == [200] * 3, (device, rows)
        for n in nodes:
            r = n.post("/api/v1/devices", {"device_id": device, "name": "again"})
            assert r.status == 409, (device, n.node_id, r)
        r = a.patch(f"/api/v1/devices/{device}", {"name": f"named {device}",
                                                  "metadata": {"site": "x"}})
        assert r.status == 200 and r.body["name"] == f"named {device}", r
        assert read_everywhere(nodes, device) == [core(r.body)] * 3
    assert a.get(f"/api/v1/devices/{hb}").body["battery_level"] == 70


def test_owner_killed_right_after_the_acks_loses_nothing_and_a_replay_changes_nothing(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=4 * LEASE_TTL_S, balanced=True)
    counts = {n.node_id: len(served_by(n)) for n in nodes}
    victim = node_by_id(nodes, max(counts, key=counts.get))
    survivors = [n for n in nodes if n is not victim]
    devices = list(dict.fromkeys(device_owned_by(victim, f"kill-{i}-") for i in range(3)))
    answered: dict[str, dict] = {}
    for i, d in enumerate(devices):
        r = survivors[i % 2].post("/api/v1/devices", {
            "device_id": d, "name": f"K{i}", "type": "valve", "metadata": {"i": i}})
        assert r.status == 201, r
        answered[d] = core(r.body)
    r = survivors[0].put(f"/api/v1/devices/{devices[0]}", {"name": "K0 put", "location": "pit"})
    assert r.status == 200, r
    answered[devices[0]] = core(r.body)
    r = survivors[1].patch(f"/api/v1/devices/{devices[-1]}", {"metadata": {"late": True}})
    assert r.status == 200, r
    answered[devices[-1]] = core(r.body)
    victim.kill()  # right after the last answer
    wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
    for d in devices:
        assert read_everywhere(survivors, d, timeout=10) == [answered[d]] * 2, d
    # Restart it without its applied checkpoint, then kill -9 the two others: it takes every
    # partition and replays every stream from the start — the changes it had applied before
    # are applied a second time over its own catalog.
    (victim.data_dir / "cluster" / "applied").unlink(missing_ok=True)
    victim.start()
    for n in survivors:
        n.kill()
    wait_all_owned([victim], timeout=4 * LEASE_TTL_S)
    parts = {partition_of(d) for d in devices}
    deadline = time.monotonic() + 15
    while True:
        view = {p["id"]: p for p in victim.cluster()["partitions"]}
        caught_up = all(view[p]["owner"] == victim.node_id and view[p]["applied_seq"] is not None
                        and view[p]["applied_seq"] >= view[p]["last_seq"] for p in parts)
        if caught_up or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert caught_up, view
    run = victim.log().split("\n=== ")[-1]
    for p in parts:
        assert f"event=cluster_partition_applying partition={p} from_seq=1" in run, p
    for d in devices:
        assert read_everywhere([victim], d) == [answered[d]], d
