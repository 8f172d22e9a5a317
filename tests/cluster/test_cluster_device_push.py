"""Config and command pushes reach a device wherever its MQTT connection is (docs/cluster.md
"Pushes to devices on any node"), on three real nats-servers and three real nodes, each with
its MQTT endpoint, and a real paho client.

The device's MQTT client (named as the device: client id = device id, auth off) is connected to a
node that is not the device's owner; the change is made through the third node. A changed config arrives on the client (the owner relays it over
core NATS to every node, each pushes it to its own connections); a command is answered
"delivered" by the node the device is connected to (asked over NATS by the node handling the
request), in the single-node answer's shape; a command for a device connected nowhere is
"queued" within a bounded time.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from fleetpulse_cluster_harness import (LEASE_TTL_S, FleetpulseNode, partition_of, served_by,
                                        three_nodes, wait_all_owned)
from mqtt_harness import PahoClient


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with three_nodes(tmp_path_factory.mktemp("fppush"), mqtt=True) as nodes:
        wait_all_owned(nodes, timeout=4 * LEASE_TTL_S, balanced=True)
        yield nodes


def device_owned_by(node: FleetpulseNode, prefix: str) -> str:
    parts = served_by(node)
    return next(d for d in (f"{prefix}{i}" for i in range(1000)) if partition_of(d) in parts)


def payloads(client: PahoClient, topic: str) -> list[dict]:
    return [json.loads(m.payload) for m in list(client.messages) if m.topic == topic]


def wait_for(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def roles(nodes, i: int):
    """(owner, the node the device's client is connected to, the node the API call goes to)."""
    return nodes[i % 3], nodes[(i + 1) % 3], nodes[(i + 2) % 3]


def test_config_change_through_a_third_node_reaches_a_client_on_a_non_owner(cluster):
    nodes = cluster
    for i in range(3):
        owner, connected, via = roles(nodes, i)
        device = device_owned_by(owner, f"cfg-{owner.node_id}-")
        r = via.post("/api/v1/devices", {"device_id": device, "config": {"rate": 1}})
        assert r.status == 201, r
        topic = f"devices/{device}/config"
        client = PahoClient(connected.mqtt_port, 4, client_id=device)  # the device itself
        try:
            client.subscribe(topic, 1)
            r = via.patch(f"/api/v1/devices/{device}", {"config": {"rate": 7}})
            assert r.status == 200, r
            got = wait_for(lambda: [p for p in payloads(client, topic) if p.get("rate") == 7])
            assert got == [{"rate": 7}], (owner.node_id, connected.node_id, via.node_id,
                                          payloads(client, topic))
            r = via.put(f"/api/v1/devices/{device}", {"config": {"rate": 9, "mode": "eco"}})
            assert r.status == 200, r
            got = wait_for(lambda: [p for p in payloads(client, topic) if p.get("rate") == 9])
            assert got == [{"rate": 9, "mode": "eco"}], payloads(client, topic)
            # Pushed once, not once per node.
            time.sleep(0.5)
            assert len([p for p in payloads(client, topic) if p.get("rate") == 9]) == 1
        finally:
            client.close()


def test_command_through_a_third_node_is_delivered_to_a_client_on_a_non_owner(cluster):
    nodes = cluster
    for i in range(3):
        owner, connected, via = roles(nodes, i)
        device = device_owned_by(owner, f"cmd-{owner.node_id}-")
        assert via.post("/api/v1/devices", {"device_id": device}).status == 201
        topic = f"devices/{device}/commands"
        client = PahoClient(connected.mqtt_port, 4, client_id=device)
        try:
            client.subscribe(topic, 1)
            r = via.post(f"/api/v1/devices/{device}/commands", {"action": "reboot", "n": i})
            assert r.status == 202, r
            assert r.body["status"] == "delivered" and r.body["delivered_to"] == 1, r.body
            assert r.body["device_id"] == device and r.body["topic"] == topic, r.body
            assert isinstance(r.body["command_id"], int) and r.body["expires_at"], r.body
            got = wait_for(lambda: payloads(client, topic))
            assert got == [{"action": "reboot", "n": i}], got
        finally:
            client.close()


def test_command_for_a_device_connected_nowhere_is_queued_within_a_bounded_time(cluster):
    nodes = cluster
    owner, _, via = roles(nodes, 0)
    device = device_owned_by(owner, "cmd-away-")
    assert via.post("/api/v1/devices", {"device_id": device}).status == 201
    t0 = time.monotonic()
    r = via.post(f"/api/v1/devices/{device}/commands", {"action": "wake"})
    took = time.monotonic() - t0
    assert r.status == 202, r
    assert r.body["status"] == "queued" and r.body["delivered_to"] == 0, r.body
    assert took < 8, took  # the other nodes are asked for at most ~2 s


def test_a_node_stops_cleanly_on_sigterm_while_pushes_arrive(cluster):
    """Last in the module: SIGTERM of the node holding a device's connection while the owner
    keeps relaying config changes to it; the relay stops before the MQTT server, exit 0."""
    nodes = cluster
    owner, connected, via = roles(nodes, 1)
    device = device_owned_by(owner, "cfg-stop-")
    assert via.post("/api/v1/devices", {"device_id": device}).status == 201
    client = PahoClient(connected.mqtt_port, 4, client_id=device)
    try:
        client.subscribe(f"devices/{device}/config", 1)
        assert via.patch(f"/api/v1/devices/{device}", {"config": {"n": 0}}).status == 200
        assert wait_for(lambda: payloads(client, f"devices/{device}/config"))
        connected.send_signal(signal.SIGTERM)
        for n in range(1, 6):
            assert via.patch(f"/api/v1/devices/{device}", {"config": {"n": n}}).status == 200
        assert connected.wait() == 0, connected.log()[-3000:]
    finally:
        client.close()
