"""Open alerts and status deadlines across a failover (docs/cluster.md, "Alerts across a
failover"), on three nodes, then two, then one: an owner paused (SIGSTOP) past its lease while
its devices' offline deadlines passed flips no status and sends no webhook for them after
SIGCONT; an offline alert raised before its owner is killed (-9) is continued by the new owner
— not raised again — and resolves once when the device comes back; a device silent through a
failover alerts once. Every alert is counted where the outside world sees it: the webhook
receiver.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, kill_all, partition_of,
                                        served_by, start_cluster, wait_all_owned)
from nats_cluster_harness import NatsCluster
from webhook_receiver import WebhookReceiver

OFFLINE_S = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpalertcarry")
    with NatsCluster() as nats, WebhookReceiver() as hooks:
        nodes = [FleetpulseNode(n, nats.urls, work, extra=[
            "--at-risk-after", "2s", "--offline-after", f"{OFFLINE_S}s",
            "--webhook-allow", "127.0.0.0/8", "--webhook-backoff", "100ms"])
                 for n in ("a", "b", "c")]
        try:
            start_cluster(nodes)
            r = nodes[0].post("/api/v1/rules", {"id": "off", "name": "off", "kind": "offline",
                                                "severity": "warning",
                                                "notify": [{"webhook": hooks.url}]})
            assert r.status == 201, r
            for n in nodes:  # the rule is everywhere before any test writes
                until(lambda n=n: n.get("/api/v1/rules/off").status == 200, 5, "rule synced")
            yield nodes, hooks
        finally:
            kill_all(nodes)


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def events(hooks: WebhookReceiver, device: str) -> list[str]:
    return [b["event"] for b in hooks.bodies() if b["alert"]["device_id"] == device]


def owner_and_device(nodes, prefix: str):
    """The running node owning the most partitions, the other running nodes, and a device id
    of one of its partitions."""
    nodes = [n for n in nodes if n.running]
    views = {n.node_id: served_by(n) for n in nodes}
    victim = max(nodes, key=lambda n: len(views[n.node_id]))
    device = next(d for d in (f"{prefix}{i}" for i in range(500))
                  if partition_of(d) in views[victim.node_id])
    return victim, [n for n in nodes if n is not victim], device


def status_via(node, device: str) -> str | None:
    r = node.get(f"/api/v1/devices/{device}")
    return r.body.get("status") if r.status == 200 else None


def test_a_paused_owner_flips_no_status_and_sends_no_alert_after_sigcont(cluster):
    """The device's offline deadline passes while its owner is stopped past its lease; after
    SIGCONT the ex-owner's status sweep may run before its lease thread notices the loss: it
    must not mark the device offline nor raise the alert (the new owner does, once)."""
    nodes, hooks = cluster
    running = [n for n in nodes if n.running]  # each test kills one, the first pauses one
    wait_all_owned(running, timeout=8 * LEASE_TTL_S, balanced=True)
    victim, survivors, device = owner_and_device(nodes, "pause-")
    devices = [device] + [d for d in (f"pause-x{i}" for i in range(500))
                          if partition_of(d) in served_by(victim)][:5]
    for d in devices:
        assert survivors[0].post("/api/v1/heartbeat", {"device_id": d}).status == 200
    for d in devices:
        until(lambda d=d: status_via(victim, d) == "online", 10, "online on its owner")
    victim.send_signal(signal.SIGSTOP)
    try:
        wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
        for d in devices:  # the new owners alert
            until(lambda d=d: events(hooks, d) == ["alert.firing"], 15, f"firing webhook {d}")
    finally:
        victim.send_signal(signal.SIGCONT)
    time.sleep(4)  # the ex-owner's sweep and engine ran; webhooks have been sent
    for d in devices:
        assert events(hooks, d) == ["alert.firing"], (d, hooks.bodies())
    # Its own catalog recorded no offline transition for them after the pause.
    run = victim.log().split("\n=== ")[-1]
    for d in devices:
        assert not re.search(rf"event=status_change device={d} from=\S+ to=offline", run), d


def test_an_open_alert_is_continued_by_the_new_owner_and_resolves_once(cluster):
    nodes, hooks = cluster
    running = [n for n in nodes if n.running]  # each test kills one, the first pauses one
    wait_all_owned(running, timeout=8 * LEASE_TTL_S, balanced=True)
    victim, survivors, device = owner_and_device(nodes, "carry-")
    assert survivors[0].post("/api/v1/heartbeat", {"device_id": device}).status == 200
    # Its owner marks it offline and raises the alert (one webhook) before it dies.
    until(lambda: events(hooks, device) == ["alert.firing"], OFFLINE_S + 10, "firing webhook")
    assert status_via(victim, device) == "offline"
    time.sleep(1.0)  # the alert bucket write follows the alert within milliseconds
    victim.kill()
    wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
    until(lambda: status_via(survivors[0], device) == "offline", 15, "offline on the new owner")
    time.sleep(3)  # room for a second (wrong) alert
    assert events(hooks, device) == ["alert.firing"], hooks.bodies()
    # The new owner lists the alert as open (adopted), once.
    alerts = survivors[1].get(f"/api/v1/alerts?device_id={device}").body
    assert [(a["rule_id"], a["state"]) for a in alerts["alerts"]] == [("off", "firing")], alerts
    # The device comes back: the alert resolves, once.
    assert survivors[1].post("/api/v1/heartbeat", {"device_id": device}).status == 200
    until(lambda: events(hooks, device) == ["alert.firing", "alert.resolved"], 10,
          f"resolved webhook: {events(hooks, device)}")
    time.sleep(2)
    assert events(hooks, device) == ["alert.firing", "alert.resolved"]
    alerts = survivors[0].get(f"/api/v1/alerts?device_id={device}").body
    assert [(a["rule_id"], a["state"]) for a in alerts["alerts"]] == [("off", "resolved")], alerts


def test_a_device_silent_through_a_failover_alerts_once(cluster):
    nodes, hooks = cluster
    running = [n for n in nodes if n.running]  # each test kills one, the first pauses one
    wait_all_owned(running, timeout=8 * LEASE_TTL_S, balanced=True)
    victim, survivors, device = owner_and_device(nodes, "hush-")
    assert survivors[0].post("/api/v1/heartbeat", {"device_id": device}).status == 200
    until(lambda: status_via(victim, device) == "online", 10, "online on its owner")
    victim.kill()  # before its offline deadline
    wait_all_owned(survivors, timeout=4 * LEASE_TTL_S)
    until(lambda: events(hooks, device) == ["alert.firing"], 20, "firing webhook")
    time.sleep(3)
    assert events(hooks, device) == ["alert.firing"], hooks.bodies()
    history = survivors[0].get(f"/api/v1/devices/{device}/status-history").body
    assert [t["to"] for t in history["transitions"]].count("offline") == 1, history
