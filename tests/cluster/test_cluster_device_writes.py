"""Device writes through a node that does not own the device, with auth on (docs/cluster.md,
"Credentials of forwarded writes" and "Device registrations and updates"): a dashboard
session (cookie only) writes with its own rights — an admin session creates, PATCHes and
DELETEs (2xx), a read session gets 403, a request without the CSRF token 403, a logged-out
session 401 — though sessions live only on the node that made them; and two simultaneous
creates of one new id through two nodes give exactly one 201 and one 409.

Three real nats-servers and three real fleetpulse nodes with --auth on.
"""

from __future__ import annotations

import threading

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, new_key, partition_of, served_by,
                                        three_nodes, wait_all_owned)

ADMIN_KEY = "cluster-writes-admin-key-0123456789"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with three_nodes(tmp_path_factory.mktemp("fpdevicewrites"), admin_key=ADMIN_KEY) as nodes:
        yield nodes


def login(node, key: str) -> dict[str, str]:
    r = node.request("POST", "/api/v1/session", key=key)
    assert r.status in (200, 201), r
    return {"Cookie": r.header("Set-Cookie").split(";")[0], "X-CSRF-Token": r.body["csrf_token"]}


def as_session(node, method: str, path: str, session: dict[str, str], body=None):
    return node.request(method, path, body, key=None, headers=session)


def test_a_dashboard_session_writes_a_device_through_a_node_that_does_not_own_it(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    a = nodes[0]
    mine = served_by(a)
    device = next(d for d in (f"sess-dev-{i}" for i in range(500)) if partition_of(d) not in mine)
    owner = next(n for n in nodes if partition_of(device) in served_by(n))
    admin = login(a, new_key(nodes, "admin")[1])

    r = as_session(a, "POST", "/api/v1/devices", admin, {"device_id": device, "name": "pump"})
    assert r.status == 201, r
    assert r.body["name"] == "pump"
    r = as_session(a, "PATCH", f"/api/v1/devices/{device}", admin, {"location": "hall 2"})
    assert r.status == 200, r
    for n in nodes:
        got = n.get(f"/api/v1/devices/{device}")
        assert got.status == 200 and got.body["location"] == "hall 2", (n.node_id, got)
    # A manual alert too (forwarded to the owner with the session's rights).
    r = as_session(a, "POST", "/api/v1/alerts", admin, {"device_id": device, "message": "m"})
    assert r.status == 201, r
    r = as_session(a, "POST", f"/api/v1/alerts/{r.body['id']}/resolve", admin, {})
    assert r.status == 200, r

    # The dispatcher's CSRF rule holds for forwarded writes too.
    no_csrf = {"Cookie": admin["Cookie"]}
    r = as_session(a, "PATCH", f"/api/v1/devices/{device}", no_csrf, {"name": "x"})
    assert r.status == 403, r

    # A read session cannot write, through any node, owner included.
    reader = login(a, new_key(nodes, "read")[1])
    r = as_session(a, "PATCH", f"/api/v1/devices/{device}", reader, {"name": "x"})
    assert r.status == 403, r
    r = as_session(a, "POST", "/api/v1/devices", reader, {"device_id": device + "-r"})
    assert r.status == 403, r
    assert owner.get(f"/api/v1/devices/{device}").body["name"] == "pump"
    assert owner.get(f"/api/v1/devices/{device}-r").status == 404

    r = as_session(a, "DELETE", f"/api/v1/devices/{device}", admin)
    assert r.status == 204, r
    assert owner.get(f"/api/v1/devices/{device}").status == 404

    # Logged out: 401, not the owner's verdict on some other credential.
    out = as_session(a, "DELETE", "/api/v1/session", admin)
    assert out.status in (200, 204), out
    r = as_session(a, "POST", "/api/v1/devices", admin, {"device_id": device})
    assert r.status == 401, r
    assert owner.get(f"/api/v1/devices/{device}").status == 404


def test_a_forged_assertion_is_refused_by_the_owner(cluster):
    nodes = cluster
    a = nodes[0]
    device = next(d for d in (f"forged-{i}" for i in range(500))
                  if partition_of(d) not in served_by(a))
    owner = next(n for n in nodes if partition_of(device) in served_by(n))
    forged = "fpfwd1.61.61.admin.99999999999999." + "0" * 64
    r = owner.request("POST", "/api/v1/devices?fp_forwarded=1", {"device_id": device},
                      key=forged)
    assert r.status == 401, r


def test_two_simultaneous_creates_of_one_new_id_through_two_nodes_give_one_201(cluster):
    nodes = cluster
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S)
    outcomes = []
    for i in range(8):
        device = f"twin-{i}"
        owner = next(n for n in nodes if partition_of(device) in served_by(n))
        pair = [n for n in nodes if n is not owner] if i % 2 == 0 else \
            [owner, next(n for n in nodes if n is not owner)]
        statuses: list[int] = []
        barrier = threading.Barrier(2)

        def create(node, name):
            barrier.wait()
            r = node.post("/api/v1/devices", {"device_id": device, "name": name})
            statuses.append(r.status)

        threads = [threading.Thread(target=create, args=(n, n.node_id)) for n in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.append((device, sorted(statuses)))
        got = owner.get(f"/api/v1/devices/{device}")
        assert got.status == 200, got
    assert all(s == [201, 409] for _, s in outcomes), outcomes
