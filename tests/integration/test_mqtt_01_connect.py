"""MQTT 1 — connecting: CONNECT/CONNACK for 3.1.1 and 5.0, protocol levels, client ids,
CONNACK properties, keep-alive expiry, client-id takeover and persistent sessions.
Each test runs for both protocol versions."""

import struct
import time

import pytest

from mqtt_harness import (CONNACK, DISCONNECT, PINGRESP, V311, V5, VERSIONS, PahoClient,
                          RawClient, connack_code, connack_properties, mosquitto_pub, mqtt_shared,
                          packet)

__all__ = ["mqtt_shared"]


@pytest.mark.parametrize("version", VERSIONS)
def test_1_1_connect_is_accepted_with_connack_success(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    ack = raw.connect(version, client_id=f"c11-{version}")
    assert connack_code(version, ack) == 0
    assert ack[2][0] == 0, "no session present for a clean start"
    raw.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_1_2_mosquitto_pub_connects_and_publishes(mqtt_shared, version):
    r = mosquitto_pub(mqtt_shared.mqtt_port, version, f"devices/c12-{version}/telemetry",
                      '{"t":1}', qos=1)
    assert r.returncode == 0, r.stderr
    assert "received CONNACK (0)" in r.stdout + r.stderr


@pytest.mark.parametrize("level", [3, 6, 0])
def test_1_3_unsupported_protocol_level_gets_connack_unacceptable_version_and_close(
        mqtt_shared, level):
    raw = RawClient(mqtt_shared.mqtt_port)
    ack = raw.connect(V311, client_id="lvl", level=level)
    assert ack is not None and ack[0] == CONNACK
    assert ack[2][1] == 0x01, f"3.1.1 return code 1 (unacceptable protocol version): {ack!r}"
    assert raw.is_closed()


@pytest.mark.parametrize("version", VERSIONS)
def test_1_4_first_packet_other_than_connect_closes_the_connection(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.send(packet(0xC0, b""))  # PINGREQ before CONNECT
    assert raw.is_closed()


def test_1_5_v311_empty_client_id_with_persistent_session_is_rejected(mqtt_shared):
    raw = RawClient(mqtt_shared.mqtt_port)
    assert connack_code(V311, raw.connect(V311, client_id="", clean=False)) == 0x02
    assert raw.is_closed()


def test_1_6_v5_empty_client_id_is_assigned_one_in_connack(mqtt_shared):
    raw = RawClient(mqtt_shared.mqtt_port)
    ack = raw.connect(V5, client_id="")
    assert connack_code(V5, ack) == 0
    props = connack_properties(ack)
    assert props.get(0x12, b"").startswith(b"fp-auto-"), props


def test_1_7_v5_connack_advertises_receive_maximum_and_maximum_packet_size(start_server):
    from mqtt_harness import start_mqtt_server
    server = start_mqtt_server(start_server, "--mqtt-max-inflight", "7",
                               "--mqtt-max-packet-size", "4096")
    raw = RawClient(server.mqtt_port)
    props = connack_properties(raw.connect(V5, client_id="props"))
    assert struct.unpack("!H", props[0x21])[0] == 7, props
    assert struct.unpack("!I", props[0x27])[0] == 4096, props
    assert props[0x25] == b"\x00" and props[0x2A] == b"\x00", "no retain, no shared subs"


@pytest.mark.parametrize("version", VERSIONS)
def test_1_8_pingreq_gets_pingresp(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"ping-{version}")
    raw.send(packet(0xC0, b""))
    assert raw.read_packet()[0] == PINGRESP


@pytest.mark.parametrize("version", VERSIONS)
def test_1_9_silent_client_is_closed_after_one_and_a_half_keep_alives(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    assert connack_code(version, raw.connect(version, client_id=f"ka-{version}", keepalive=1)) == 0
    start = time.monotonic()
    pkt = raw.read_packet(timeout=6)
    elapsed = time.monotonic() - start
    if version == V5:
        assert pkt is not None and pkt[0] == DISCONNECT and pkt[2][0] == 0x8D, pkt
        assert raw.read_packet(timeout=2) is None
    else:
        assert pkt is None
    assert 1.2 <= elapsed <= 4, f"closed after {elapsed:.2f}s with keep-alive 1 s"


@pytest.mark.parametrize("version", VERSIONS)
def test_1_10_pings_keep_a_connection_alive_past_its_keep_alive(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"ka-alive-{version}", keepalive=1)
    for _ in range(5):
        time.sleep(0.5)
        raw.send(packet(0xC0, b""))
        assert raw.read_packet()[0] == PINGRESP


@pytest.mark.parametrize("version", VERSIONS)
def test_1_11_second_connection_with_same_client_id_takes_over(mqtt_shared, version):
    first = RawClient(mqtt_shared.mqtt_port)
    assert connack_code(version, first.connect(version, client_id=f"dup-{version}")) == 0
    second = RawClient(mqtt_shared.mqtt_port)
    assert connack_code(version, second.connect(version, client_id=f"dup-{version}")) == 0
    if version == V5:
        pkt = first.read_packet()
        assert pkt is not None and pkt[0] == DISCONNECT and pkt[2][0] == 0x8E, pkt
    assert first.is_closed()
    second.send(packet(0xC0, b""))
    assert second.read_packet()[0] == PINGRESP, "the new connection keeps working"


@pytest.mark.parametrize("version", VERSIONS)
def test_1_12_persistent_session_is_resumed_with_session_present(mqtt_shared, version):
    cid = f"persist-{version}"
    props = b"\x11\x00\x00\x00\x3c" if version == V5 else b""  # session expiry 60 s
    raw = RawClient(mqtt_shared.mqtt_port)
    assert raw.connect(version, client_id=cid, clean=False, properties=props)[2][0] == 0
    raw.send(packet(0xE0, b""))  # DISCONNECT
    assert raw.is_closed()
    again = RawClient(mqtt_shared.mqtt_port)
    ack = again.connect(version, client_id=cid, clean=False, properties=props)
    assert connack_code(version, ack) == 0 and ack[2][0] == 1, f"session present: {ack!r}"
    clean = RawClient(mqtt_shared.mqtt_port)
    again.close()
    ack = clean.connect(version, client_id=cid, clean=True)
    assert ack[2][0] == 0, "a clean start discards the session"


@pytest.mark.parametrize("version", VERSIONS)
def test_1_13_paho_connects_and_disconnects_cleanly(mqtt_shared, version):
    c = PahoClient(mqtt_shared.mqtt_port, version, client_id=f"paho-{version}")
    c.close()
    assert c.disconnected.wait(5)
    assert c.disconnect_rc == 0


def test_1_14_v5_session_is_gone_after_its_expiry_interval(mqtt_shared):
    props = b"\x11\x00\x00\x00\x01"  # session expiry 1 s
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(V5, client_id="expiring", clean=False, properties=props)
    raw.send(packet(0xE0, b""))
    assert raw.is_closed()
    quick = RawClient(mqtt_shared.mqtt_port)
    assert quick.connect(V5, client_id="expiring", clean=False, properties=props)[2][0] == 1
    quick.send(packet(0xE0, b""))
    assert quick.is_closed()
    time.sleep(1.3)
    late = RawClient(mqtt_shared.mqtt_port)
    assert late.connect(V5, client_id="expiring", clean=False, properties=props)[2][0] == 0


def test_1_15_stored_sessions_are_bounded(start_server):
    from mqtt_harness import start_mqtt_server
    server = start_mqtt_server(start_server, "--mqtt-max-connections", "2")
    for i in range(12):
        raw = RawClient(server.mqtt_port)
        assert connack_code(V311, raw.connect(V311, client_id=f"many-{i}", clean=False)) == 0
        raw.send(packet(0xE0, b""))
        assert raw.is_closed()
    resumed = 0
    for i in range(12):
        raw = RawClient(server.mqtt_port)
        resumed += raw.connect(V311, client_id=f"many-{i}", clean=False)[2][0]
        raw.send(packet(0xE0, b""))
        assert raw.is_closed()
    assert 0 < resumed <= 4, f"{resumed} of 12 sessions kept with room for 2 x 2"
