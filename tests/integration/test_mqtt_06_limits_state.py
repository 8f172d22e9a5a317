"""MQTT 6 — limits, back-pressure, metrics, device connection state and will messages:
a server at its connection limit refuses in CONNACK; a connection at its in-flight or buffered
limit is simply not read until acks drain (nothing is lost, acks stay in order); /metrics shows
it all and passes promtool; the device object tells whether the device is connected; a will is
published (and stored) on an abnormal end only. Each test runs for 3.1.1 and 5.0."""

import json
import socket
import time

import pytest

from fleetpulse_harness import metric_value, wait_until
from mqtt_harness import (PUBACK, V5, VERSIONS, PahoClient, RawClient, connack_code, packet,
                          publish_packet, start_mqtt_server)
from test_metrics import promtool_check
from test_telemetry_ingest import T0, points


@pytest.mark.parametrize("version", VERSIONS)
def test_6_1_connection_limit_is_refused_in_connack(start_server, version):
    server = start_mqtt_server(start_server, "--mqtt-max-connections", "2")
    held = [RawClient(server.mqtt_port) for _ in range(2)]
    for i, c in enumerate(held):
        assert connack_code(version, c.connect(version, client_id=f"held{i}")) == 0
    extra = RawClient(server.mqtt_port)
    code = connack_code(version, extra.connect(version, client_id="extra"))
    assert code == (0x89 if version == V5 else 0x03), "server busy / server unavailable"
    assert extra.is_closed()
    held[0].close()
    wait_until(lambda: connack_code(version, RawClient(server.mqtt_port).connect(
        version, client_id="later")) == 0, 5, message="a freed slot")


@pytest.mark.parametrize("version", VERSIONS)
def test_6_2_inflight_limit_pauses_reading_without_losing_or_reordering(start_server, version):
    server = start_mqtt_server(start_server, "--mqtt-max-inflight", "2")
    raw = RawClient(server.mqtt_port)
    raw.connect(version, client_id="burst")
    n = 200
    raw.send(b"".join(publish_packet(version, "devices/bp/telemetry",
                                     json.dumps({"ts": T0 + i, "i": i}).encode(), qos=1,
                                     packet_id=i + 1) for i in range(n)))
    ids = []
    for _ in range(n):
        pkt = raw.read_packet()
        assert pkt is not None and pkt[0] == PUBACK, pkt
        ids.append(int.from_bytes(pkt[2][:2], "big"))
    assert ids == list(range(1, n + 1))
    assert len(points(server, "bp", "i")) == n
    text = server.get("/metrics").text
    assert metric_value(text, "fleetpulse_mqtt_backpressure_pauses_total") > 0
    assert metric_value(text, "fleetpulse_points_ingested_total", transport="mqtt") == n


def test_6_3_client_that_never_reads_is_paused_and_memory_stays_bounded(start_server):
    server = start_mqtt_server(start_server, "--mqtt-max-buffered", "4KiB")
    raw = RawClient(server.mqtt_port)
    raw.connect(4, client_id="no-reader")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.sock.settimeout(3)
    chunk = packet(0xC0, b"") * 50_000  # PINGREQs whose PINGRESPs are never read
    sent = 0
    try:
        for _ in range(100):  # up to 10 MB of requests, 10 MB of answers
            raw.sock.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:
        pass
    assert sent < 100 * len(chunk), "the server should stop reading a client that does not read"
    text = server.get("/metrics").text
    assert metric_value(text, "fleetpulse_mqtt_backpressure_pauses_total") >= 1
    assert metric_value(text, "fleetpulse_mqtt_buffered_bytes") < 1 << 20
    assert server.get("/health").status == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_6_4_device_object_shows_connection_state(start_server, version):
    server = start_mqtt_server(start_server)
    dev = f"cs-{version}"
    assert server.post("/api/v1/devices", {"device_id": dev}).status == 201
    before = server.get(f"/api/v1/devices/{dev}").json
    assert before["connected"] is False and before["last_connect"] is None
    c = PahoClient(server.mqtt_port, version, client_id=dev)
    d = server.get(f"/api/v1/devices/{dev}").json
    assert d["connected"] is True and d["last_connect"] is not None
    assert d["status"] == "unknown", "a connection alone does not make a device online"
    c.close()
    d = wait_until(lambda: (lambda j: not j["connected"] and j)(
        server.get(f"/api/v1/devices/{dev}").json), 5, message="disconnected")
    assert d["last_disconnect"] is not None and d["last_disconnect"] >= d["last_connect"]
    listed = server.get("/api/v1/devices").json["devices"]
    assert [x["connected"] for x in listed if x["device_id"] == dev] == [False]


@pytest.mark.parametrize("version", VERSIONS)
def test_6_5_will_is_published_on_abnormal_end_only(start_server, version):
    server = start_mqtt_server(start_server)
    will = (f"devices/w-{version}/telemetry", json.dumps({"ts": T0, "alive": 0}).encode(), 1)
    clean = RawClient(server.mqtt_port)
    clean.connect(version, client_id="will-clean",
                  will=(f"devices/wc-{version}/telemetry", will[1], 1))
    clean.send(packet(0xE0, b""))  # DISCONNECT: the will is discarded
    assert clean.is_closed()
    dropped = RawClient(server.mqtt_port)
    dropped.connect(version, client_id="will-dropped", will=will)
    dropped.sock.close()  # no DISCONNECT
    wait_until(lambda: server.get(f"/api/v1/devices/w-{version}").status == 200, 5,
               message="the will to be stored")
    assert points(server, f"w-{version}", "alive") == [(T0, 0)]
    assert server.get(f"/api/v1/devices/wc-{version}").status == 404


@pytest.mark.parametrize("version", VERSIONS)
def test_6_6_metrics_and_health_describe_the_mqtt_endpoint(start_server, version):
    server = start_mqtt_server(start_server)
    c = PahoClient(server.mqtt_port, version)
    c.publish("devices/m66/telemetry", json.dumps({"x": 1}), qos=1)
    c.publish("devices/m66/telemetry", "{bad", qos=1)
    text = server.get("/metrics").text
    assert promtool_check(text).returncode == 0, promtool_check(text).stdout
    assert metric_value(text, "fleetpulse_mqtt_connections") == 1
    assert metric_value(text, "fleetpulse_mqtt_messages_received_total", qos="1") == 2
    assert metric_value(text, "fleetpulse_mqtt_connects_total", result="accepted") == 1
    assert metric_value(text, "fleetpulse_mqtt_inflight_messages") == 0
    assert metric_value(text, "fleetpulse_mqtt_rejected_total", reason="invalid_telemetry") == 1
    health = server.get("/api/v1/health/detailed").json["components"]["mqtt"]
    assert health["state"] == "ok" and health["clients"] == 1
    assert health["address"] == f"127.0.0.1:{server.mqtt_port}"
    c.close()


def test_6_7_mqtt_off_reports_disabled_and_does_not_listen(start_server):
    server = start_server()  # the harness passes --mqtt off
    health = server.get("/api/v1/health/detailed").json["components"]["mqtt"]
    assert health["state"] == "disabled"


@pytest.mark.parametrize("version", VERSIONS)
def test_6_8_shutdown_tells_v5_clients_and_exits_cleanly(start_server, version):
    server = start_mqtt_server(start_server)
    raw = RawClient(server.mqtt_port)
    raw.connect(version, client_id="stay")
    time.sleep(0.1)
    assert server.stop() == 0
    pkt = raw.read_packet(timeout=5)
    if version == V5:
        assert pkt is not None and pkt[0] == 14 and pkt[2][0] == 0x8B, pkt
        pkt = raw.read_packet(timeout=5)
    assert pkt is None
