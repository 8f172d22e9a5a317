"""Every refused or dropped message is counted in fleetpulse_ingest_rejected_total with a reason:
an MQTT 3.1.1 publish to another device's topic (the connection closes), stored MQTT sessions
pruned over the cap, InfluxDB /write with another device's data (403) or a timestamp out of
range (400), the compat device routes' and heartbeats' 403 for another device."""

import pytest

from fleetpulse_harness import metric_value
from mqtt_harness import V311, RawClient, connack_code, publish_packet, start_mqtt_server

ADMIN = "admin-key-for-drop-counter-tests"


def rejected(server, reason: str) -> float:
    return metric_value(server.metrics_text(), "fleetpulse_ingest_rejected_total",
                        reason=reason) or 0.0


def new_token(server, dev: str) -> str:
    resp = server.post(f"/api/v1/devices/{dev}/tokens", {"name": "t"})
    assert resp.status == 201, resp
    return resp.json["token"]


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    server = start_mqtt_server(module_server_factory, admin_key=ADMIN)
    for dev in ("dc1", "dc2"):
        assert server.post("/api/v1/devices", {"device_id": dev}).status == 201
    server.token = new_token(server, "dc1")
    return server


def test_mqtt_311_publish_to_another_devices_topic_is_counted(auth_server):
    before = rejected(auth_server, "not_authorized")
    c = RawClient(auth_server.mqtt_port)
    try:
        assert connack_code(V311, c.connect(V311, client_id="dc1-c", username="dc1",
                                            password=auth_server.token)) == 0
        c.send(publish_packet(V311, "devices/dc2/telemetry", b'{"t": 1}', qos=1))
        assert c.is_closed()
    finally:
        c.close()
    assert rejected(auth_server, "not_authorized") == before + 1


@pytest.mark.parametrize("path,body", [
    ("/write?db=x&precision=ms", "t,device_id=dc2 v=1 1767225600000"),
    ("/api/v2/write?bucket=x&precision=ms", "t,device_id=dc2 v=1 1767225600000\n"
                                             "t,device_id=dc2 v=2 1767225600001"),
])
def test_influx_write_of_another_devices_data_is_counted(auth_server, path, body):
    before = rejected(auth_server, "forbidden_device")
    resp = auth_server.post(path, raw=body, key=auth_server.token,
                            headers={"Content-Type": "text/plain"})
    assert resp.status == 403, resp
    assert rejected(auth_server, "forbidden_device") == before + body.count("\n") + 1


def test_influx_write_with_an_out_of_range_timestamp_is_counted(auth_server):
    before = rejected(auth_server, "invalid_reading")
    resp = auth_server.post("/write?db=x&precision=h", raw="t,device_id=dc1 v=1 2600000",
                            key=auth_server.token, headers={"Content-Type": "text/plain"})
    assert resp.status == 400, resp
    assert rejected(auth_server, "invalid_reading") == before + 1


@pytest.mark.parametrize("path,body", [
    ("/api/v1/devices/dc2/metrics", {"t": 1}),
    ("/api/v1/devices/dc2/heartbeat", {}),
    ("/api/devices/dc2/heartbeat", {}),
])
def test_compat_and_heartbeat_routes_count_another_devices_403(auth_server, path, body):
    before = rejected(auth_server, "forbidden_device")
    resp = auth_server.post(path, body, key=auth_server.token)
    assert resp.status == 403, resp
    assert rejected(auth_server, "forbidden_device") == before + 1


def test_pruned_stored_mqtt_sessions_are_counted(start_server):
    # At most 2 connections: more than 4 stored sessions and the oldest absent ones go.
    server = start_mqtt_server(start_server, "--mqtt-max-connections", "2")
    for i in range(5):
        c = RawClient(server.mqtt_port)
        try:
            assert connack_code(V311, c.connect(V311, client_id=f"keep-{i}", clean=False)) == 0
        finally:
            c.close()
    # The 6th new session is over the cap: absent ones are dropped to make room.
    c = RawClient(server.mqtt_port)
    try:
        assert connack_code(V311, c.connect(V311, client_id="keep-new", clean=False)) == 0
    finally:
        c.close()
    assert rejected(server, "session_pruned") >= 1
