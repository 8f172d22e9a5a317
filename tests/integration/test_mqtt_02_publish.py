"""MQTT 2 — publishing telemetry and heartbeats: QoS 0, 1 and 2, every telemetry form, the
default topic templates, acknowledgement only once durable (a PUBACKed message survives
kill -9), exactly-once QoS 2 flow, refused payloads and topics. Each test runs for 3.1.1 and 5.0.
What was stored is always checked through the HTTP query API."""

import json
import signal

import pytest

from fleetpulse_harness import wait_until
from mqtt_harness import (PUBACK, PUBCOMP, PUBREC, V5, VERSIONS, PahoClient, RawClient,
                          mosquitto_pub, mqtt_shared, packet, publish_packet, start_mqtt_server)
from test_telemetry_ingest import T0, points

__all__ = ["mqtt_shared"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_2_1_telemetry_published_with_each_qos_is_stored(mqtt_shared, version, qos):
    dev = f"p21-{version}-{qos}"
    r = mosquitto_pub(mqtt_shared.mqtt_port, version, f"devices/{dev}/telemetry",
                      json.dumps({"ts": T0, "temperature": 21.5}), qos=qos)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: mqtt_shared.get(f"/api/v1/devices/{dev}").status == 200, 5)
    assert wait_until(lambda: points(mqtt_shared, dev, "temperature"), 5) == [(T0, 21.5)]


@pytest.mark.parametrize("version", VERSIONS)
def test_2_2_every_telemetry_form_is_accepted_on_the_topic(mqtt_shared, version):
    dev = f"p22-{version}"
    c = PahoClient(mqtt_shared.mqtt_port, version)
    c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0, "a": 1}))
    c.publish(f"devices/{dev}/telemetry",
              json.dumps({"ts": T0, "metric": "b", "value": 2, "unit": "x"}))
    c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0, "metric_type": "c", "value": 3}))
    c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0, "values": {"d": 4}}))
    c.publish(f"devices/{dev}/telemetry",
              json.dumps({"readings": [{"ts": T0 + 1, "a": 5}, {"ts": T0 + 2, "a": 6}]}))
    c.close()
    assert points(mqtt_shared, dev, "a") == [(T0, 1), (T0 + 1, 5), (T0 + 2, 6)]
    for m, v in (("b", 2), ("c", 3), ("d", 4)):
        assert points(mqtt_shared, dev, m) == [(T0, v)]


@pytest.mark.parametrize("version", VERSIONS)
def test_2_3_iot_topic_works_out_of_the_box(mqtt_shared, version):
    dev = f"p23-{version}"
    c = PahoClient(mqtt_shared.mqtt_port, version)
    c.publish(f"iot/{dev}/telemetry", json.dumps({"ts": T0, "rpm": 900}))
    c.close()
    assert points(mqtt_shared, dev, "rpm") == [(T0, 900)]


@pytest.mark.parametrize("version", VERSIONS)
def test_2_4_heartbeat_topic_updates_the_device(mqtt_shared, version):
    dev = f"p24-{version}"
    r = mosquitto_pub(mqtt_shared.mqtt_port, version, f"devices/{dev}/heartbeat",
                      json.dumps({"battery_level": 77, "signal_strength": -60}))
    assert r.returncode == 0, r.stderr
    d = mqtt_shared.get(f"/api/v1/devices/{dev}").json
    assert d["status"] == "online" and d["battery_level"] == 77 and d["signal_strength"] == -60


@pytest.mark.parametrize("version", VERSIONS)
def test_2_5_empty_heartbeat_payload_marks_the_device_seen(mqtt_shared, version):
    dev = f"p25-{version}"
    c = PahoClient(mqtt_shared.mqtt_port, version)
    c.publish(f"devices/{dev}/heartbeat", "")
    c.close()
    assert mqtt_shared.get(f"/api/v1/devices/{dev}").json["last_seen"] is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_2_6_configured_topic_templates_replace_the_defaults(start_server, version):
    server = start_mqtt_server(start_server, "--mqtt-telemetry-topics", "fleet/{device_id}/up",
                               "--mqtt-heartbeat-topics", "fleet/{device_id}/alive")
    c = PahoClient(server.mqtt_port, version)
    c.publish("fleet/t26/up", json.dumps({"ts": T0, "v": 1}))
    c.publish("fleet/t26/alive", "{}")
    c.close()
    assert points(server, "t26", "v") == [(T0, 1)]
    assert server.get("/api/v1/devices/t26").json["last_seen"] is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_2_7_puback_means_durable_the_message_survives_kill_9(start_server, version):
    server = start_mqtt_server(start_server)
    dev = f"p27-{version}"
    c = PahoClient(server.mqtt_port, version)
    for i in range(20):
        c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0 + i, "n": i}), qos=1)
    server.kill()  # SIGKILL right after the last PUBACK
    server.start()
    assert points(server, dev, "n") == [(T0 + i, i) for i in range(20)]


@pytest.mark.parametrize("version", VERSIONS)
def test_2_8_acks_come_in_publish_order_refusals_included(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"order-{version}")
    bad = {6, 13, 20}  # invalid payloads, refused at once, yet acknowledged in their turn
    burst = b"".join(
        publish_packet(version, f"devices/p28-{version}-{i % 3}/telemetry",
                       b"{oops" if i in bad else json.dumps({"ts": T0 + i, "x": i}).encode(),
                       qos=1, packet_id=i + 1)
        for i in range(30))
    raw.send(burst)
    acks = []
    for _ in range(30):
        pkt = raw.read_packet()
        assert pkt is not None and pkt[0] == PUBACK, pkt
        acks.append((int.from_bytes(pkt[2][:2], "big"), pkt[2][2] if len(pkt[2]) > 2 else 0))
    assert [a[0] for a in acks] == list(range(1, 31))
    if version == V5:
        assert [i for i, (_, code) in enumerate(acks) if code == 0x99] == sorted(bad)


@pytest.mark.parametrize("version", VERSIONS)
def test_2_9_qos2_pubrec_pubrel_pubcomp_and_a_resend_is_stored_once(mqtt_shared, version):
    dev = f"p29-{version}"
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"q2-{version}")
    pub = publish_packet(version, f"devices/{dev}/telemetry",
                         json.dumps({"ts": T0, "x": 1}).encode(), qos=2, packet_id=9)
    raw.send(pub)
    rec = raw.read_packet()
    assert rec[0] == PUBREC and rec[2][:2] == b"\x00\x09", rec
    # The same packet again (DUP set) before PUBREL: answered with PUBREC, not stored twice.
    raw.send(bytes([pub[0] | 0x08]) + pub[1:])
    assert raw.read_packet()[0] == PUBREC
    raw.send(packet(0x62, b"\x00\x09"))  # PUBREL
    comp = raw.read_packet()
    assert comp[0] == PUBCOMP and comp[2][:2] == b"\x00\x09", comp
    assert points(mqtt_shared, dev, "x") == [(T0, 1)]


def test_2_10_v5_pubrel_for_an_unknown_id_gets_pubcomp_packet_id_not_found(mqtt_shared):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(V5, client_id="q2-unknown")
    raw.send(packet(0x62, b"\x00\x33"))
    comp = raw.read_packet()
    assert comp[0] == PUBCOMP and comp[2] == b"\x00\x33\x92", comp


@pytest.mark.parametrize("version", VERSIONS)
def test_2_11_invalid_payload_is_refused_and_counted_and_the_connection_stays(mqtt_shared,
                                                                             version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"badpay-{version}")
    raw.send(publish_packet(version, f"devices/p211-{version}/telemetry", b"{not json", qos=1,
                            packet_id=5))
    ack = raw.read_packet()
    assert ack[0] == PUBACK and ack[2][:2] == b"\x00\x05"
    if version == V5:
        assert ack[2][2] == 0x99, "payload format invalid"
    raw.send(packet(0xC0, b""))
    assert raw.read_packet() is not None, "the connection stays open"
    assert mqtt_shared.get(f"/api/v1/devices/p211-{version}").status == 404
    metrics = mqtt_shared.get("/metrics").text
    assert 'fleetpulse_mqtt_rejected_total{reason="invalid_telemetry"}' in metrics


@pytest.mark.parametrize("version", VERSIONS)
def test_2_12_topic_matching_no_template_is_not_stored(mqtt_shared, version):
    raw = RawClient(mqtt_shared.mqtt_port)
    raw.connect(version, client_id=f"notopic-{version}")
    raw.send(publish_packet(version, "somewhere/else", b'{"x":1}', qos=1, packet_id=2))
    ack = raw.read_packet()
    assert ack[0] == PUBACK
    if version == V5:
        assert ack[2][2] == 0x90, "topic name invalid"


@pytest.mark.parametrize("version", VERSIONS)
def test_2_13_mqtt_messages_count_in_the_device_kpis(mqtt_shared, version):
    dev = f"p213-{version}"
    c = PahoClient(mqtt_shared.mqtt_port, version)
    c.publish(f"devices/{dev}/heartbeat", json.dumps({"battery_level": 90}))
    c.publish(f"devices/{dev}/telemetry", json.dumps({"temp": 20}))
    c.publish(f"devices/{dev}/telemetry", json.dumps({"temp": "x", "hum": {}}))  # refused
    c.close()

    def kpis():
        k = mqtt_shared.get(f"/api/v1/devices/{dev}/kpis").json
        return k if k.get("error_rate") is not None else None
    k = wait_until(kpis, 5, message="KPIs of the MQTT device")
    assert k["bytes_per_min"] > 0 and k["messages_per_min"] > 0, k
    assert 0 < k["error_rate"] < 1, k
