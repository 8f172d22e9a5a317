"""MQTT 9 — persistent sessions and queued pushes survive restarts: a client with a persistent
session (3.1.1 clean session 0, v5 clean start 0 with a session expiry) keeps its subscriptions
and its unacknowledged QoS 1 commands across a SIGTERM restart and across kill -9 (they live in
the catalog); on reconnecting it gets CONNACK session present and what was pending, the resent
ones flagged DUP, without subscribing again. Commands for a device that is away are queued
(bounded per device and in total, with an expiry) and delivered in order when it subscribes.
Each test runs for 3.1.1 and 5.0 where it applies."""

import json
import signal
import time

import pytest

from fleetpulse_harness import assert_error, metric_value
from mqtt_harness import (PUBACK, PUBLISH, SUBACK, V5, VERSIONS, PahoClient, RawClient,
                          connack_code, mqtt_str, packet, start_mqtt_server)

EXPIRY_300 = b"\x11\x00\x00\x01\x2c"  # v5 Session Expiry Interval 300 s


def subscribe_packet(version: int, topic: str, qos: int = 1, packet_id: int = 1) -> bytes:
    body = bytes([packet_id >> 8, packet_id & 0xFF])
    if version == V5:
        body += b"\x00"
    return packet(0x82, body + mqtt_str(topic) + bytes([qos]))


def puback_packet(packet_id: int) -> bytes:
    return packet(0x40, bytes([packet_id >> 8, packet_id & 0xFF]))


def parse_publish(version: int, pkt):
    """(topic, payload, qos, dup, packet_id) of a PUBLISH read by RawClient."""
    assert pkt is not None and pkt[0] == PUBLISH, f"expected PUBLISH, got {pkt!r}"
    flags, body = pkt[1], pkt[2]
    n = int.from_bytes(body[:2], "big")
    topic = body[2:2 + n].decode()
    i = 2 + n
    qos = (flags >> 1) & 3
    pid = 0
    if qos:
        pid = int.from_bytes(body[i:i + 2], "big")
        i += 2
    if version == V5:
        plen = body[i]  # property lengths stay below 128 here
        i += 1 + plen
    return topic, json.loads(body[i:]), qos, bool(flags & 0x08), pid


def persistent_connect(port: int, version: int, cid: str) -> tuple[RawClient, bool]:
    raw = RawClient(port)
    props = EXPIRY_300 if version == V5 else b""
    ack = raw.connect(version, client_id=cid, clean=False, properties=props)
    assert connack_code(version, ack) == 0, ack
    return raw, bool(ack[2][0] & 1)


def command(server, dev: str, body: dict):
    resp = server.post(f"/api/v1/devices/{dev}/commands", body)
    assert resp.status == 202, resp
    return resp.json


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_9_1_session_and_unacked_command_survive_a_restart(start_server, version, how):
    server = start_mqtt_server(start_server)
    dev = f"p91-{version}-{how}"
    server.create_device(dev)
    raw, present = persistent_connect(server.mqtt_port, version, dev)
    assert not present
    raw.send(subscribe_packet(version, f"devices/{dev}/commands"))
    assert raw.read_packet()[0] == SUBACK
    first = command(server, dev, {"n": 1})
    assert first["status"] == "delivered" and first["delivered_to"] == 1, first
    topic, payload, qos, dup, _ = parse_publish(version, raw.read_packet())
    assert (topic, payload, qos, dup) == (f"devices/{dev}/commands", {"n": 1}, 1, False)
    raw.close()  # no PUBACK: the command stays pending
    time.sleep(0.2)
    second = command(server, dev, {"n": 2})
    assert second["status"] == "queued" and second["delivered_to"] == 0, second
    if how == "kill9":
        server.kill()
        server.start()
    else:
        server.restart()
    raw, present = persistent_connect(server.mqtt_port, version, dev)
    assert present, "the session was forgotten by the restart"
    got = [parse_publish(version, raw.read_packet()) for _ in range(2)]  # no SUBSCRIBE sent
    assert [(p[1], p[3]) for p in got] == [({"n": 1}, True), ({"n": 2}, False)], got
    for p in got:
        raw.send(puback_packet(p[4]))
    raw.send(packet(0xE0, b""))
    assert raw.is_closed()
    # Acknowledged means gone, across another restart as well.
    server.kill() if how == "kill9" else server.stop()
    server.start()
    raw, present = persistent_connect(server.mqtt_port, version, dev)
    assert present
    assert raw.read_packet(timeout=1) is None, "an acknowledged command came back"
    raw.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_9_2_persistent_subscription_survives_kill_9_and_receives_new_config(start_server,
                                                                             version):
    server = start_mqtt_server(start_server)
    dev = f"p92-{version}"
    server.create_device(dev, config={"a": 1})
    c = PahoClient(server.mqtt_port, version, client_id=dev, clean=False)
    c.subscribe(f"devices/{dev}/config", 1)
    c.wait_messages(1)
    c.close()
    server.kill()
    server.start()
    again = PahoClient(server.mqtt_port, version, client_id=dev, clean=False)
    assert again.session_present
    assert server.patch(f"/api/v1/devices/{dev}", {"config": {"a": 2}}).status == 200
    msg = again.wait_messages(1)[-1]
    assert json.loads(msg.payload) == {"a": 2}
    again.close()


def test_9_3_v5_session_expiry_is_honoured_across_a_restart(start_server):
    server = start_mqtt_server(start_server)
    props = b"\x11\x00\x00\x00\x02"  # 2 s
    raw = RawClient(server.mqtt_port)
    assert connack_code(V5, raw.connect(V5, client_id="exp93", clean=False, properties=props)) == 0
    raw.send(subscribe_packet(V5, "devices/exp93/commands"))
    assert raw.read_packet()[0] == SUBACK
    raw.close()  # killed with the session open: its expiry starts at the restart
    server.kill()
    server.start()
    quick = RawClient(server.mqtt_port)
    assert quick.connect(V5, client_id="exp93", clean=False, properties=props)[2][0] == 1
    quick.send(packet(0xE0, b""))
    assert quick.is_closed()
    server.stop()
    time.sleep(2.5)
    server.start()
    late = RawClient(server.mqtt_port)
    assert late.connect(V5, client_id="exp93", clean=False, properties=props)[2][0] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_9_4_commands_for_an_offline_device_are_queued_and_delivered_in_order(start_server,
                                                                              version):
    server = start_mqtt_server(start_server)
    dev = f"q94-{version}"
    server.create_device(dev)
    for n in range(3):
        answer = command(server, dev, {"n": n})
        assert answer["status"] == "queued" and answer["delivered_to"] == 0, answer
        assert answer["command_id"] and answer["expires_at"], answer
    server.kill()  # queued commands are durable once answered
    server.start()
    c = PahoClient(server.mqtt_port, version, client_id=dev)  # a clean session
    c.subscribe(f"devices/{dev}/commands", 1)
    msgs = c.wait_messages(3)
    assert [json.loads(m.payload)["n"] for m in msgs] == [0, 1, 2]
    now = command(server, dev, {"n": 3})
    assert now["status"] == "delivered" and now["delivered_to"] == 1, now
    assert json.loads(c.wait_messages(4)[3].payload) == {"n": 3}
    time.sleep(0.3)  # paho sends the PUBACK after on_message returns
    c.close()
    # Delivered and acknowledged: nothing is delivered a second time.
    again = PahoClient(server.mqtt_port, version, client_id=dev)
    again.subscribe(f"devices/{dev}/commands", 1)
    time.sleep(0.5)
    assert again.messages == []
    again.close()


def test_9_5_queue_is_bounded_per_device_and_in_total(start_server):
    server = start_mqtt_server(start_server, "--mqtt-queue-per-device", "2",
                               "--mqtt-queue-total", "3")
    for dev in ("b1", "b2"):
        server.create_device(dev)
    command(server, "b1", {"n": 1})
    command(server, "b1", {"n": 2})
    full = server.post("/api/v1/devices/b1/commands", {"n": 3})
    err = assert_error(full, 429, "command_queue_full")
    assert "2" in err["message"], err
    command(server, "b2", {"n": 1})
    total = server.post("/api/v1/devices/b2/commands", {"n": 2})
    assert_error(total, 429, "command_queue_full")
    assert metric_value(server.metrics_text(), "fleetpulse_mqtt_commands_refused_total") == 2
    # The device drains its queue and there is room again.
    c = PahoClient(server.mqtt_port, 4, client_id="b1")
    c.subscribe("devices/b1/commands", 1)
    c.wait_messages(2)
    c.close()
    time.sleep(0.3)
    command(server, "b2", {"n": 2})


def test_9_6_queued_command_expires(start_server):
    server = start_mqtt_server(start_server, "--mqtt-queue-expiry", "1s")
    server.create_device("e96")
    command(server, "e96", {"old": True})
    time.sleep(1.5)
    c = PahoClient(server.mqtt_port, V5, client_id="e96")
    c.subscribe("devices/e96/commands", 1)
    time.sleep(0.5)
    assert c.messages == [], "an expired command was delivered"
    c.close()
    assert metric_value(server.metrics_text(), "fleetpulse_mqtt_commands_expired_total") == 1


def test_9_7_deleting_a_device_drops_its_queued_commands(start_server):
    server = start_mqtt_server(start_server)
    server.create_device("d97")
    command(server, "d97", {"n": 1})
    assert server.delete("/api/v1/devices/d97").status == 204
    server.create_device("d97")
    c = PahoClient(server.mqtt_port, V5, client_id="d97")
    c.subscribe("devices/d97/commands", 1)
    time.sleep(0.5)
    assert c.messages == [], "a removed device's command reached the new device of that id"
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_9_8_a_clean_start_discards_the_stored_session_for_good(start_server, version):
    server = start_mqtt_server(start_server)
    cid = f"c98-{version}"
    raw, _ = persistent_connect(server.mqtt_port, version, cid)
    raw.send(subscribe_packet(version, f"devices/{cid}/commands"))
    assert raw.read_packet()[0] == SUBACK
    raw.close()
    server.restart()
    clean = RawClient(server.mqtt_port)
    ack = clean.connect(version, client_id=cid, clean=True)
    assert connack_code(version, ack) == 0 and ack[2][0] == 0
    clean.send(packet(0xE0, b""))
    assert clean.is_closed()
    server.kill()
    server.start()
    raw, present = persistent_connect(server.mqtt_port, version, cid)
    assert not present, "a discarded session came back after kill -9"
    raw.close()


def test_9_9_delete_all_drops_queued_commands(start_server):
    server = start_mqtt_server(start_server)
    server.create_device("z99")
    command(server, "z99", {"n": 1})
    assert server.post("/api/v1/admin/delete-all?confirm=yes").status == 200
    server.create_device("z99")
    c = PahoClient(server.mqtt_port, V5, client_id="z99")
    c.subscribe("devices/z99/commands", 1)
    time.sleep(0.5)
    assert [(m.topic, m.payload) for m in c.messages] == []
    c.close()
