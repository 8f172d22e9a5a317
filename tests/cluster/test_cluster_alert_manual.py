"""Manual alerts (raised by hand, without a rule) across a failover (docs/cluster.md, "Alerts
across a failover"), on three nodes: a manual alert raised through a node that does not own its
device gets a cluster-wide id, reads the same through every node, is still open on the new
owner after kill -9 of the old one (no wait after the answer: the answer waited for the alert
bucket), is acknowledged and resolved through the third node by the id the client was given,
resolves once, and stays resolved everywhere after the old owner returns.
"""

from __future__ import annotations

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, partition_of, served_by, three_nodes,
                                        wait_all_owned)
from fleetpulse_harness import wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with three_nodes(tmp_path_factory.mktemp("fpalertmanual")) as nodes:
        yield nodes


def owner_of(nodes, device: str):
    p = partition_of(device)
    return next(n for n in nodes if n.running and p in served_by(n))


def alerts_of(node, device: str) -> list[dict]:
    r = node.get(f"/api/v1/alerts?device_id={device}")
    assert r.status == 200, r
    assert r.body["partial"] is False, r.body
    return r.body["alerts"]


def test_a_manual_alert_survives_its_owner_and_is_acted_on_through_any_node(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    victim = max(nodes, key=lambda n: len(served_by(n)))
    others = [n for n in nodes if n is not victim]
    device = next(d for d in (f"manual-{i}" for i in range(500))
                  if partition_of(d) in served_by(victim))
    assert others[0].post("/api/v1/heartbeat", {"device_id": device}).status == 200

    # Raised through a node that does not own the device: forwarded to the owner.
    r = others[0].post("/api/v1/alerts", {"device_id": device, "severity": "critical",
                                          "message": "valve stuck"})
    assert r.status == 201, r
    alert_id = r.body["id"]
    assert r.body["state"] == "firing" and r.body["device_id"] == device
    for n in nodes:  # one alert, the same id, through every node
        got = n.get(f"/api/v1/alerts/{alert_id}")
        assert got.status == 200, (n.node_id, got)
        assert got.body["message"] == "valve stuck"
        assert [a["id"] for a in alerts_of(n, device)] == [alert_id]

    victim.kill()  # right after the answer
    wait_all_owned(others, timeout=4 * LEASE_TTL_S)
    new_owner = owner_of(others, device)
    third = next(n for n in others if n is not new_owner)
    for n in others:  # open on the new owner, under the id the client was given
        listed = alerts_of(n, device)
        assert [(a["id"], a["state"], a["severity"], a["message"]) for a in listed] == [
            (alert_id, "firing", "critical", "valve stuck")], (n.node_id, listed)

    r = third.post(f"/api/v1/alerts/{alert_id}/acknowledge", {"by": "carol", "note": "on it"})
    assert r.status == 200, r
    assert r.body["state"] == "acknowledged" and r.body["acknowledged_by"] == "carol"
    got = new_owner.get(f"/api/v1/alerts/{alert_id}")
    assert got.status == 200 and got.body["state"] == "acknowledged", got
    r = third.post(f"/api/v1/alerts/{alert_id}/resolve", {"by": "carol"})
    assert r.status == 200 and r.body["state"] == "resolved", r
    again = new_owner.post(f"/api/v1/alerts/{alert_id}/resolve", {"by": "dave"})
    assert again.status == 409, again
    for n in others:
        assert [(a["id"], a["state"]) for a in alerts_of(n, device)] == [
            (alert_id, "resolved")], n.node_id

    # The old owner returns (its own catalog still has the alert open): resolved everywhere,
    # once, also after the partitions spread over it again.
    victim.start()
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    for n in nodes:
        wait_until(lambda n=n: [(a["id"], a["state"]) for a in alerts_of(n, device)] == [
            (alert_id, "resolved")], 10, 0.2, f"one resolved alert through {n.node_id}")


def test_alert_actions_on_unknown_ids_and_bad_bodies_get_clear_errors(cluster):
    nodes = [n for n in cluster if n.running]
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S)
    for n in nodes:
        assert n.post("/api/v1/alerts/999999999999/acknowledge", {}).status == 404
        assert n.post("/api/v1/alerts/nope/resolve", {}).status == 404
        r = n.post("/api/v1/alerts", {"device_id": "never-registered-1", "message": "x"})
        assert r.status == 404, r
        r = n.post("/api/v1/alerts", raw=b"{not json")
        assert r.status == 400, r
