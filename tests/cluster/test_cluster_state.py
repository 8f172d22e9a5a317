"""Cluster-wide state in the JetStream KV bucket "fleetpulse_state" (cluster/state_sync.h).

Three real nats-servers and three real nodes with authentication on: an API key created on
node a works on node c at once and, revoked on node b, is refused on node a; a rule created on
a fires for data written through c for a device another node owns, and its deletion on c
reaches every node; a device token created on the device's owner authenticates writes through
any node; a node restarted with kill -9 still has the state and picks up what changed while it
was down.
"""

from __future__ import annotations

import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, node_by_id, partition_of,
                                        start_cluster, wait_all_owned)
from nats_cluster_harness import NatsCluster

ADMIN = "fp-test-admin-key-0123456789"
T0 = 1_767_225_600_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpstate")
    with NatsCluster() as nats:
        nodes = [FleetpulseNode(n, nats.urls, work) for n in ("a", "b", "c")]
        for n in nodes:
            n.admin_key = ADMIN
        try:
            start_cluster(nodes)
            yield nodes
        finally:
            for n in nodes:
                n.kill()


def until(predicate, timeout: float, what: str):
    start = time.monotonic()
    while True:
        got = predicate()
        if got:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def owner_of(nodes, device: str) -> FleetpulseNode:
    """The node owning `device`'s partition (waiting while the partition is between owners)."""
    part = partition_of(device)
    deadline = time.monotonic() + 3 * LEASE_TTL_S
    while True:
        owner = next(p["owner"] for p in nodes[0].cluster()["partitions"] if p["id"] == part)
        if owner or time.monotonic() > deadline:
            return node_by_id(nodes, owner)
        time.sleep(0.2)


def test_a_key_created_on_a_works_on_c_and_revoked_on_b_is_refused_on_a(cluster):
    a, b, c = cluster
    r = a.post("/api/v1/admin/api-keys", {"name": "reader", "role": "read"})
    assert r.status == 201, r
    key, key_id = r.body["key"], r.body["id"]
    assert c.get("/api/v1/rules", key="fpk_not_a_key").status == 401  # auth is on
    took = until(lambda: c.get("/api/v1/rules", key=key).status == 200, 3.0, "key on c")
    assert took < 1.5, took
    # Read role everywhere: a write is refused on every node.
    assert b.post("/api/v1/rules", {"kind": "offline"}, key=key).status == 403
    assert b.delete(f"/api/v1/admin/api-keys/{key_id}").status in (200, 204)
    took = until(lambda: a.get("/api/v1/rules", key=key).status == 401, 3.0, "revoked on a")
    assert took < 1.5, took
    assert c.get("/api/v1/rules", key=key).status == 401


def test_a_rule_created_on_a_fires_for_data_written_through_c(cluster):
    a, b, c = cluster
    rule = {"id": "wet", "name": "wet", "kind": "threshold", "metric": "humidity", "op": ">",
            "threshold": 90, "severity": "warning"}
    assert a.post("/api/v1/rules", rule).status == 201
    for n in (b, c):
        until(lambda n=n: n.get("/api/v1/rules/wet").status == 200, 3.0, f"rule on {n.node_id}")
    # A device that node a does not own: the rule must be in force on its owner.
    device = next(f"wet-{i}" for i in range(100) if owner_of(cluster, f"wet-{i}") is not a)
    r = c.post("/api/v1/telemetry", {"readings": [
        {"device_id": device, "metric": "humidity", "value": 97.0, "ts": T0}]})
    assert r.status == 200, r

    def fired():
        alerts = a.get(f"/api/v1/alerts?device_id={device}").body.get("alerts", [])
        return [x for x in alerts if x["rule_id"] == "wet" and x["state"] == "firing"]
    until(fired, 15.0, "alert of a rule created on another node")
    assert len(fired()) == 1
    # Deleted on c: gone on every node.
    assert c.delete("/api/v1/rules/wet").status in (200, 204)
    for n in cluster:
        until(lambda n=n: n.get("/api/v1/rules/wet").status == 404, 3.0, f"deleted on {n.node_id}")


def test_a_device_token_made_on_the_owner_authenticates_writes_through_every_node(cluster):
    device = "tok-dev-1"
    owner = owner_of(cluster, device)
    r = cluster[0].post("/api/v1/telemetry", {"readings": [
        {"device_id": device, "metric": "temp", "value": 1.0, "ts": T0}]})
    assert r.status == 200
    until(lambda: owner.get(f"/api/v1/devices/{device}").status == 200, 10.0, "device applied")
    t = owner.post(f"/api/v1/devices/{device}/tokens", {"name": "fw"})
    assert t.status == 201, t
    token = t.body["token"]
    for i, n in enumerate(cluster):
        body = {"readings": [{"device_id": device, "metric": "temp", "value": 2.0 + i,
                              "ts": T0 + 1000 + i}]}
        until(lambda n=n, body=body: n.post("/api/v1/telemetry", body, key=token).status == 200,
              3.0, f"token on {n.node_id}")
    other = next(n for n in cluster if n is not owner)
    assert other.delete(f"/api/v1/devices/{device}/tokens/{t.body['id']}").status in (200, 204) \
        or owner.delete(f"/api/v1/devices/{device}/tokens/{t.body['id']}").status in (200, 204)
    body = {"readings": [{"device_id": device, "metric": "temp", "value": 9.0, "ts": T0 + 5000}]}
    for n in cluster:
        until(lambda n=n: n.post("/api/v1/telemetry", body, key=token).status == 401, 3.0,
              f"revoked token on {n.node_id}")


def test_a_node_killed_and_restarted_has_the_state_and_catches_up(cluster):
    a, b, c = cluster
    r = a.post("/api/v1/admin/api-keys", {"name": "before", "role": "read"})
    before, before_id = r.body["key"], r.body["id"]
    until(lambda: c.get("/api/v1/rules", key=before).status == 200, 3.0, "key on c")
    c.kill()
    during = b.post("/api/v1/admin/api-keys", {"name": "while-down", "role": "read"}).body["key"]
    assert b.delete(f"/api/v1/admin/api-keys/{before_id}").status in (200, 204)
    # Its presence key must expire before the id may be used again (docs/cluster.md).
    until(lambda: "c" not in {n["id"] for n in a.cluster()["nodes"]}, 3 * LEASE_TTL_S,
          "c's presence expired")
    c.start()
    # Start-up applies the bucket before the node answers: both changes are there at once.
    assert c.get("/api/v1/rules", key=during).status == 200
    assert c.get("/api/v1/rules", key=before).status == 401
    wait_all_owned(cluster, timeout=6 * LEASE_TTL_S)


def test_a_dashboard_session_on_one_node_reads_the_fleet_and_other_owners_devices(cluster):
    """Sessions live in the memory of the node that made them; the node forwards and gathers
    with its own internal read key instead (cluster/forward_auth.h)."""
    a, b, c = cluster
    device = next(f"sess-{i}" for i in range(100) if owner_of(cluster, f"sess-{i}") is not a)
    assert b.post("/api/v1/telemetry", {"readings": [
        {"device_id": device, "metric": "temp", "value": 4.0, "ts": T0}]}).status == 200
    login = a.post("/api/v1/session", {"api_key": ADMIN}, key=None)
    assert login.status in (200, 201), login
    cookie = login.header("Set-Cookie").split(";")[0]
    headers = {"Cookie": cookie}
    until(lambda: a.get(f"/api/v1/devices/{device}", key=None, headers=headers).status == 200,
          10.0, "a device of another owner read with the session cookie")
    # (A partition between owners after the previous test's restart answers partial: retry.)
    until(lambda: a.get("/api/v1/devices?limit=1000", key=None, headers=headers).body.get(
        "partial") is False, 4 * LEASE_TTL_S, "a complete fleet read with the session cookie")
    r = a.get("/api/v1/devices?limit=1000", key=None, headers=headers)
    assert r.status == 200, r
    assert device in {d["device_id"] for d in r.body["devices"]}
    # Without a valid session nothing is forwarded on its behalf.
    bad = {"Cookie": "fp_session=not-a-session"}
    assert a.get("/api/v1/devices?limit=10", key=None, headers=bad).status == 401
    assert a.get(f"/api/v1/devices/{device}", key=None, headers=bad).status == 401
