"""MQTT 5 — malformed and hostile input, as raw bytes: each bad packet closes only its own
connection (v5 clients are told why with a DISCONNECT reason code) while other clients and the
HTTP API keep working. Each test runs for 3.1.1 and 5.0."""

import json

import pytest

from mqtt_harness import (DISCONNECT, PINGRESP, PUBACK, V5, VERSIONS, RawClient, mqtt_str,
                          packet, publish_packet, start_mqtt_server, varint)

CASES = {
    # name: (bytes after a successful CONNECT, v5 reason code)
    "remaining_length_of_five_bytes": (b"\x30\xff\xff\xff\xff\x7f", 0x81),
    "packet_type_zero": (b"\x00\x00", 0x81),
    "publish_qos_3": (b"\x36\x05\x00\x01a\x00\x01", 0x81),
    "qos0_with_dup": (b"\x38\x03\x00\x01a", 0x81),
    "topic_longer_than_packet": (b"\x30\x04\x00\x10ab", 0x81),
    "topic_not_utf8": (b"\x30\x05\x00\x02\xc3\x28x", 0x81),
    "topic_with_nul": (b"\x30\x05\x00\x02a\x00x", 0x81),
    "topic_with_wildcard": (b"\x30\x05\x00\x03a/#", 0x90),
    "publish_packet_id_zero": (b"\x32\x05\x00\x01a\x00\x00", 0x81),
    "subscribe_wrong_flags": (b"\x80\x06\x00\x01\x00\x01a\x00", 0x81),
    "subscribe_without_filters": (b"\x82\x02\x00\x01", 0x82),
    "pubrel_wrong_flags": (b"\x60\x02\x00\x01", 0x81),
    "pingreq_with_body": (b"\xc0\x01\x00", 0x81),
    "second_connect": (None, 0x82),
    "server_only_packet_connack": (b"\x20\x02\x00\x00", 0x82),
}


def after_connect(version, name):
    data, code = CASES[name]
    if name == "second_connect":
        from mqtt_harness import connect_packet
        data = connect_packet(version, client_id="again")
    if version == V5 and name in ("subscribe_without_filters",):
        data = b"\x82\x03\x00\x01\x00"
    if version == V5 and name == "topic_with_wildcard":
        data = b"\x30\x06\x00\x03a/#\x00"
    if version == V5 and name == "publish_qos_3":
        data = b"\x36\x06\x00\x01a\x00\x01\x00"
    return data, code


@pytest.fixture(scope="module")
def server(module_server_factory):
    return start_mqtt_server(module_server_factory, "--mqtt-max-packet-size", "4096")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_5_1_malformed_packet_closes_only_its_connection(server, version, name):
    bystander = RawClient(server.mqtt_port)
    bystander.connect(version, client_id=f"bystander-{name}-{version}")
    bad = RawClient(server.mqtt_port)
    bad.connect(version, client_id=f"bad-{name}-{version}")
    data, code = after_connect(version, name)
    bad.send(data)
    pkt = bad.read_packet()
    if version == V5 and pkt is not None:
        assert pkt[0] == DISCONNECT and pkt[2][0] == code, f"expected reason {code:#x}: {pkt!r}"
        pkt = bad.read_packet()
    assert pkt is None, f"the connection should be closed, got {pkt!r}"
    bystander.send(packet(0xC0, b""))
    assert bystander.read_packet()[0] == PINGRESP, "another client is not affected"
    assert server.get("/health").status == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_5_2_packet_larger_than_the_maximum_is_refused_with_packet_too_large(server, version):
    raw = RawClient(server.mqtt_port)
    raw.connect(version, client_id=f"big-{version}")
    raw.send(publish_packet(version, "devices/big/telemetry", b"x" * 5000, qos=0))
    pkt = raw.read_packet()
    if version == V5:
        assert pkt is not None and pkt[0] == DISCONNECT and pkt[2][0] == 0x95, pkt
        pkt = raw.read_packet()
    assert pkt is None


@pytest.mark.parametrize("version", VERSIONS)
def test_5_3_oversized_length_is_refused_before_the_bytes_arrive(server, version):
    raw = RawClient(server.mqtt_port)
    raw.connect(version, client_id=f"huge-{version}")
    raw.send(b"\x30" + varint(200_000_000))  # announces 200 MB, sends nothing more
    assert raw.is_closed(timeout=3)


def test_5_4_v5_duplicate_property_is_a_protocol_error(server):
    raw = RawClient(server.mqtt_port)
    raw.connect(V5, client_id="dup-prop")
    props = b"\x02\x00\x00\x00\x05" * 2  # message expiry interval twice
    raw.send(publish_packet(V5, "devices/dp/telemetry", b"{}", properties=props))
    pkt = raw.read_packet()
    assert pkt[0] == DISCONNECT and pkt[2][0] == 0x82, pkt


def test_5_5_v5_topic_alias_is_refused_since_the_maximum_is_zero(server):
    raw = RawClient(server.mqtt_port)
    raw.connect(V5, client_id="alias")
    raw.send(publish_packet(V5, "devices/al/telemetry", b"{}", properties=b"\x23\x00\x01"))
    pkt = raw.read_packet()
    assert pkt[0] == DISCONNECT and pkt[2][0] == 0x94, pkt


@pytest.mark.parametrize("version", VERSIONS)
def test_5_6_connect_with_bad_flags_or_truncated_payload_closes(server, version):
    for data in (b"\x10\x0c" + mqtt_str("MQTT") + bytes([version, 0x01]) + b"\x00\x1e\x00\x00",
                 b"\x10\x08" + mqtt_str("MQTT") + bytes([version, 0x02]) + b"\x00"):
        raw = RawClient(server.mqtt_port)
        raw.send(data)
        pkt = raw.read_packet(timeout=3)
        if pkt is not None:
            assert pkt[0] == 2 and pkt[2][1] >= 0x80, f"only a refusing CONNACK: {pkt!r}"
            pkt = raw.read_packet(timeout=3)
        assert pkt is None


@pytest.mark.parametrize("version", VERSIONS)
def test_5_7_garbage_before_connect_closes_and_the_server_keeps_ingesting(server, version):
    import os
    for _ in range(20):
        raw = RawClient(server.mqtt_port)
        data = bytearray(os.urandom(64))
        if data[0] >> 4 == 1:  # not a CONNECT header: that one waits for its length
            data[0] ^= 0x20
        raw.send(bytes(data))
        assert raw.is_closed(timeout=2)
    good = RawClient(server.mqtt_port)
    good.connect(version, client_id=f"after-garbage-{version}")
    good.send(publish_packet(version, f"devices/ok57-{version}/telemetry",
                             json.dumps({"v": 1}).encode(), qos=1))
    assert good.read_packet()[0] == PUBACK
