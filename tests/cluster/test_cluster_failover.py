"""haproxy in front of three nodes (HTTP and MQTT), and an owner paused with SIGSTOP past its
lease: its partitions move, it applies nothing of them after its lease passed (the messages
the stream pushed to it meanwhile are dropped), and after SIGCONT it rejoins; every
acknowledged write is readable through every node and through haproxy.
"""

from __future__ import annotations

import signal
import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, kill_all, owners,
                                        partition_of, served_by, start_cluster,
                                        wait_all_owned)
from haproxy_harness import Haproxy
from mqtt_harness import PahoClient
from nats_cluster_harness import NatsCluster

T0 = 1_767_225_600_000
OFFLINE_S = 16


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpfailover")
    with NatsCluster() as nats:
        # Short status windows: a silent device goes offline within the test.
        nodes = [FleetpulseNode(n, nats.urls, work, mqtt=True, extra=[
            "--at-risk-after", "10s", "--offline-after", f"{OFFLINE_S}s"])
                 for n in ("a", "b", "c")]
        try:
            start_cluster(nodes)
            with Haproxy(work, [n.port for n in nodes], [n.mqtt_port for n in nodes]) as proxy:
                yield nodes, proxy
        finally:
            kill_all(nodes)


def points_via(request, device: str) -> list[float]:
    r = request("GET", f"/api/v1/devices/{device}/telemetry?metric=temp&start={T0 - 1}"
                f"&end={T0 + 10_000_000}&limit=10000")
    return [p["value"] for p in r.body["points"]] if r.status == 200 else []


def wait_values(request, device: str, want: list[float], timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    got: list[float] = []
    while time.monotonic() < deadline:
        got = points_via(request, device)
        if got == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{device}: {got} != {want}")


def busiest_owner(nodes, prefix: str, count: int):
    """The running node owning the most partitions, its partitions, the other running nodes,
    and up to `count` device ids named `prefix`N that fall in its partitions."""
    nodes = [n for n in nodes if n.running]
    views = {n.node_id: served_by(n) for n in nodes}
    victim = max(nodes, key=lambda n: len(views[n.node_id]))
    moved = views[victim.node_id]
    devices = [d for d in (f"{prefix}{i}" for i in range(200)) if partition_of(d) in moved][:count]
    assert devices
    return victim, moved, [n for n in nodes if n is not victim], devices


def test_http_and_mqtt_through_haproxy_reach_every_owner(cluster):
    nodes, proxy = cluster
    devices = [f"hp-dev-{i}" for i in range(12)]
    for k in range(3):  # three requests: haproxy sends them to different nodes
        r = proxy.request("POST", "/api/v1/telemetry", {"readings": [
            {"device_id": d, "metric": "temp", "value": float(k), "ts": T0 + k} for d in devices]})
        assert r.status == 200, r
    for c in range(3):  # three MQTT connections: round robin over the nodes
        client = PahoClient(proxy.mqtt_port, 4, client_id=f"hp-mqtt-{c}")
        try:
            for d in devices:
                client.publish(f"devices/{d}/telemetry",
                               f'{{"metric":"temp","value":{10 + c},"ts":{T0 + 10 + c}}}', qos=1)
        finally:
            client.close()
    want = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    for d in devices:
        wait_values(proxy.request, d, want)
        for n in nodes:  # a 503 (partition between owners) is retried, as clients do
            wait_values(n.request, d, want, timeout=15)
    r = proxy.request("GET", "/api/v1/devices?limit=1000&q=hp-dev")
    assert r.status == 200 and not r.body["partial"], r
    assert sorted(x["device_id"] for x in r.body["devices"]) == sorted(devices)


def test_a_paused_owner_applies_nothing_after_its_lease_passed_and_rejoins(cluster):
    nodes, proxy = cluster
    victim, moved, survivors, devices = busiest_owner(nodes, "pz-dev-", 8)
    first = {"readings": [{"device_id": d, "metric": "temp", "value": 1.0, "ts": T0}
                          for d in devices]}
    assert survivors[0].post("/api/v1/telemetry", first).status == 200
    for d in devices:
        wait_values(victim.request, d, [1.0])

    victim.send_signal(signal.SIGSTOP)
    try:
        paused_at = time.monotonic()
        wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
        takeover_s = time.monotonic() - paused_at
        second = {"readings": [{"device_id": d, "metric": "temp", "value": 2.0, "ts": T0 + 1}
                               for d in devices]}
        assert survivors[1].post("/api/v1/telemetry", second).status == 200
        for d in devices:  # through haproxy: the paused node is out of its rotation
            wait_values(proxy.request, d, [1.0, 2.0])
    finally:
        victim.send_signal(signal.SIGCONT)
    assert takeover_s < 3 * LEASE_TTL_S, takeover_s
    time.sleep(1.0)
    # The paused node's own engine (fp_local: no forwarding, no gathering) did not apply what
    # was written after its lease passed, though the stream had pushed it to its consumer.
    local = victim.get("/api/v1/latest?metric=temp&limit=100000&fp_local=1").body["devices"]
    values = {x["device_id"]: x["values"]["temp"]["value"] for x in local}
    for d in devices:
        assert values.get(d) == 1.0, (d, values.get(d))
    assert not served_by(victim) & moved
    # Nor does it keep status deadlines for them: its tracker let go of their devices
    # (cluster/partition_scope.h), so it cannot mark them offline or alert for them.
    local_stats = victim.get("/api/v1/stats?fp_local=1").body
    assert local_stats["devices"]["total"] == 0, local_stats
    # It rejoins, takes a share again (rebuilding from its checkpoint), and every acknowledged
    # reading is readable through every node.
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    for d in devices:
        for n in nodes:
            wait_values(n.request, d, [1.0, 2.0])


def test_a_device_silent_across_a_failover_goes_offline_and_alerts_once(cluster):
    """Its owner is killed (-9) soon after the device's last heartbeat: the new owner rebuilds
    the device's status from the stream and marks it offline at the right time, once."""
    nodes, proxy = cluster
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    assert nodes[0].post("/api/v1/rules", {"id": "off", "name": "off", "kind": "offline",
                                           "severity": "warning"}).status == 201
    views = {n.node_id: [p["id"] for p in n.cluster()["partitions"] if p["owner"] == n.node_id]
             for n in nodes}
    victim = max(nodes, key=lambda n: len(views[n.node_id]))
    survivors = [n for n in nodes if n is not victim]
    device = next(d for d in (f"quiet-{i}" for i in range(200))
                  if partition_of(d) in set(views[victim.node_id]))
    for n in survivors:  # the rule is everywhere before the heartbeat
        deadline = time.monotonic() + 5
        while n.get("/api/v1/rules/off").status != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert survivors[0].post("/api/v1/heartbeat", {"device_id": device}).status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and victim.get(f"/api/v1/devices/{device}").status != 200:
        time.sleep(0.2)
    victim.kill()
    wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
    deadline = time.monotonic() + OFFLINE_S + 20
    status = None
    while time.monotonic() < deadline:
        r = proxy.request("GET", f"/api/v1/devices/{device}")
        status = r.body.get("status") if r.status == 200 else None
        if status == "offline":
            break
        time.sleep(0.3)
    assert status == "offline"
    time.sleep(3)  # room for a second (wrong) transition or alert
    history = proxy.request("GET", f"/api/v1/devices/{device}/status-history").body
    assert [t["to"] for t in history["transitions"]].count("offline") == 1, history
    alerts = proxy.request("GET", f"/api/v1/alerts?device_id={device}").body
    assert [a["rule_id"] for a in alerts["alerts"]] == ["off"], alerts
    local = [n.get(f"/api/v1/alerts?device_id={device}&fp_local=1").body["alerts"]
             for n in survivors]
    assert sum(len(x) for x in local) == 1, local


def test_a_node_that_lost_a_partition_runs_no_alert_timers_for_its_devices(cluster):
    """Absence timers (and `for` durations) run on the owner only: an owner paused past its
    lease while the absence timers of its devices ran out raises no alert for them after
    SIGCONT while it does not serve them (so sends no webhook); their owner alerts."""
    nodes, proxy = cluster
    nodes = [n for n in nodes if n.running]  # an earlier test may have killed one
    wait_all_owned(nodes, timeout=8 * LEASE_TTL_S, balanced=True)
    assert nodes[0].post("/api/v1/rules", {"id": "gone", "name": "gone", "kind": "absence",
                                           "for": "4s", "severity": "warning"}).status == 201
    victim, moved, survivors, devices = busiest_owner(nodes, "abs-dev-", 4)
    for n in nodes:  # the rule is everywhere before the readings
        deadline = time.monotonic() + 5
        while n.get("/api/v1/rules/gone").status != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert survivors[0].post("/api/v1/telemetry", {"readings": [
        {"device_id": d, "metric": "temp", "value": 1.0, "ts": T0} for d in devices]}).status == 200
    for d in devices:
        wait_values(victim.request, d, [1.0])

    def local_gone(node, device) -> int:
        r = node.get(f"/api/v1/alerts?device_id={device}&fp_local=1")
        assert r.status == 200, r
        return sum(1 for a in r.body["alerts"] if a["rule_id"] == "gone")

    victim.send_signal(signal.SIGSTOP)
    try:
        wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
    finally:
        victim.send_signal(signal.SIGCONT)
    # The victim's timers ran out during the pause; its engine ticks every second. It fires
    # nothing for a device while it does not serve the device's partition (it rejoins and may
    # take some back within seconds: a partition it serves before and after reading its alerts
    # is left out; the unfixed engine fired at its first tick after SIGCONT).
    checked: set[str] = set()
    until = time.monotonic() + 3
    while time.monotonic() < until:
        before = served_by(victim)
        fired = {d: local_gone(victim, d) for d in devices}
        after = served_by(victim)
        for d in devices:
            if partition_of(d) not in before | after:
                assert fired[d] == 0, (d, fired)
                checked.add(d)
        time.sleep(0.3)
    assert checked, "the victim took every partition back at once: nothing was checked"
    # Every device alerts (not never): its owner now (a new owner replayed its reports, or the
    # victim got the partition back and its timer ran out). Exactly once across the move needs
    # the open alerts carried over (docs/cluster.md, "Not done"): not asserted.
    deadline = time.monotonic() + 20
    counts: list[int] = []
    while time.monotonic() < deadline:
        counts = [sum(local_gone(n, d) for n in nodes) for d in devices]
        if all(c >= 1 for c in counts):
            break
        time.sleep(0.3)
    assert all(c >= 1 for c in counts), (counts, owners(nodes[0]))
    assert nodes[0].delete("/api/v1/rules/gone").status in (200, 204)
