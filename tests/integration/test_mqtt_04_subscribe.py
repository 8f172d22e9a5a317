"""MQTT 4 — subscriptions: a device subscribes to its own devices/{id}/config and
devices/{id}/commands; the current config arrives at once (flagged retained) and every change
made through PUT/PATCH of the device arrives as it happens. Other devices' topics, wildcards and
shared subscriptions are refused in the SUBACK. Each test runs for 3.1.1 and 5.0."""

import json

import pytest

from mqtt_harness import (SUBACK, UNSUBACK, V5, VERSIONS, PahoClient, RawClient, mqtt_shared,
                          mqtt_str, packet, start_mqtt_server)

__all__ = ["mqtt_shared"]


def register(server, dev, config):
    resp = server.post("/api/v1/devices", {"device_id": dev, "config": config})
    assert resp.status == 201, resp


@pytest.mark.parametrize("version", VERSIONS)
def test_4_1_subscribing_to_config_delivers_the_current_config_as_retained(mqtt_shared, version):
    dev = f"s41-{version}"
    register(mqtt_shared, dev, {"interval": 30})
    c = PahoClient(mqtt_shared.mqtt_port, version, client_id=dev)
    assert c.subscribe(f"devices/{dev}/config", 1) == [1]
    msg = c.wait_messages(1)[0]
    assert msg.topic == f"devices/{dev}/config" and msg.retain
    assert json.loads(msg.payload) == {"interval": 30}
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_4_2_config_changed_through_the_api_is_pushed_to_the_device(mqtt_shared, version, method):
    dev = f"s42-{version}-{method}"
    register(mqtt_shared, dev, {"interval": 30, "mode": "eco"})
    c = PahoClient(mqtt_shared.mqtt_port, version, client_id=dev)
    c.subscribe(f"devices/{dev}/config", 1)
    c.wait_messages(1)
    resp = mqtt_shared.request(method, f"/api/v1/devices/{dev}", {"config": {"interval": 5}})
    assert resp.status == 200, resp
    msg = c.wait_messages(2)[1]
    expected = {"interval": 5, "mode": "eco"} if method == "PATCH" else {"interval": 5}
    assert json.loads(msg.payload) == expected and not msg.retain
    # A change of another field pushes nothing.
    assert mqtt_shared.patch(f"/api/v1/devices/{dev}", {"name": "n"}).status == 200
    mqtt_shared.get("/health")
    assert len(c.messages) == 2
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_4_3_subscription_outside_the_devices_own_topics_is_refused(start_server, version):
    server = start_mqtt_server(start_server, admin_key="admin-key-subscribe")
    for dev in ("s43a", "s43b"):
        server.post("/api/v1/devices", {"device_id": dev})
    tok = server.post("/api/v1/devices/s43a/tokens", {}).json["token"]
    c = PahoClient(server.mqtt_port, version, username="s43a", password=tok)
    refused = 0x87 if version == V5 else 0x80
    assert c.subscribe("devices/s43b/config", 1) == [refused]
    assert c.subscribe("devices/s43a/commands", 1) == [1]
    assert c.subscribe("devices/+/config", 0) == [0xA2 if version == V5 else 0x80]
    assert c.subscribe("$share/g/devices/s43a/config", 0) == [0x9E if version == V5 else 0x80]
    assert c.subscribe("devices/s43a/telemetry", 0) == [0x8F if version == V5 else 0x80]
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_4_4_unsubscribe_stops_config_pushes(mqtt_shared, version):
    dev = f"s44-{version}"
    register(mqtt_shared, dev, {"a": 1})
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=dev)
    props = b"\x00" if version == V5 else b""
    raw.send(packet(0x82, b"\x00\x01" + props + mqtt_str(f"devices/{dev}/config") + b"\x00"))
    assert raw.read_packet()[0] == SUBACK
    assert raw.read_packet()[0] == 3, "the current config"
    raw.send(packet(0xA2, b"\x00\x02" + props + mqtt_str(f"devices/{dev}/config")))
    unsuback = raw.read_packet()
    assert unsuback[0] == UNSUBACK and unsuback[2][:2] == b"\x00\x02"
    assert mqtt_shared.patch(f"/api/v1/devices/{dev}", {"config": {"a": 2}}).status == 200
    raw.send(packet(0xC0, b""))
    assert raw.read_packet()[0] == 13, "PINGRESP, and no config PUBLISH before it"


@pytest.mark.parametrize("version", VERSIONS)
def test_4_5_persistent_session_keeps_its_subscription_across_reconnects(mqtt_shared, version):
    dev = f"s45-{version}"
    register(mqtt_shared, dev, {"a": 1})
    c = PahoClient(mqtt_shared.mqtt_port, version, client_id=dev, clean=False)
    c.subscribe(f"devices/{dev}/config", 1)
    c.wait_messages(1)
    c.close()
    again = PahoClient(mqtt_shared.mqtt_port, version, client_id=dev, clean=False)
    assert again.session_present
    assert mqtt_shared.patch(f"/api/v1/devices/{dev}", {"config": {"a": 3}}).status == 200
    msg = again.wait_messages(1)[0]
    assert json.loads(msg.payload) == {"a": 3}
    again.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_4_6_command_posted_to_the_api_reaches_the_subscribed_device(mqtt_shared, version):
    dev = f"s46-{version}"
    register(mqtt_shared, dev, {})
    c = PahoClient(mqtt_shared.mqtt_port, version, client_id=dev)
    c.subscribe(f"devices/{dev}/commands", 1)
    resp = mqtt_shared.post(f"/api/v1/devices/{dev}/commands", {"action": "reboot", "delay": 5})
    assert resp.status == 202 and resp.json["delivered_to"] == 1, resp
    msg = c.wait_messages(1)[0]
    assert msg.topic == f"devices/{dev}/commands" and not msg.retain
    assert json.loads(msg.payload) == {"action": "reboot", "delay": 5}
    c.close()
    assert mqtt_shared.post("/api/v1/devices/nobody/commands", {"a": 1}).status == 404
    assert mqtt_shared.post(f"/api/v1/devices/{dev}/commands", raw="{x").status == 400
