"""MQTT 10 — revocation takes effect on open connections: revoking a device token closes the
MQTT sessions authenticated with it within a second (v5: DISCONNECT 0x87 Not authorized first);
deleting a device closes its sessions and the still-open session cannot register it again;
revoking an operator key or changing its role closes the SSE streams and MQTT sessions opened
with it. Each MQTT test runs for 3.1.1 and 5.0."""

import socket
import time

import pytest

from fleetpulse_harness import assert_error
from mqtt_harness import (DISCONNECT, PUBACK, V5, VERSIONS, RawClient, connack_code,
                          publish_packet, start_mqtt_server)
from sse_client import SseClient
from test_telemetry_ingest import points

ADMIN = "admin-key-for-revocation-tests"
NOT_AUTHORIZED = 0x87


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    return start_mqtt_server(module_server_factory, admin_key=ADMIN)


def new_token(server, dev: str) -> dict:
    resp = server.post(f"/api/v1/devices/{dev}/tokens", {"name": "t"})
    assert resp.status == 201, resp
    return resp.json


def new_key(server, role: str) -> dict:
    resp = server.post("/api/v1/admin/api-keys", {"name": f"k-{role}", "role": role})
    assert resp.status == 201, resp
    return resp.json


def connected(server, version, dev, password) -> RawClient:
    raw = RawClient(server.mqtt_port)
    ack = raw.connect(version, client_id=f"{dev}-c", username=dev, password=password)
    assert connack_code(version, ack) == 0, ack
    raw.send(publish_packet(version, f"devices/{dev}/telemetry", b'{"t":1}', qos=1, packet_id=1))
    assert raw.read_packet()[0] == PUBACK
    return raw


def closed_within(raw: RawClient, version: int, seconds: float) -> tuple[float, int | None]:
    """Waits for the server to close; returns (seconds taken, v5 DISCONNECT reason or None)."""
    start = time.monotonic()
    reason = None
    while time.monotonic() - start < seconds + 2:
        pkt = raw.read_packet(timeout=seconds + 2 - (time.monotonic() - start))
        if pkt is None:
            took = time.monotonic() - start
            assert took < seconds + 1.9, f"the connection stayed open for {took:.1f}s"
            return took, reason
        if pkt[0] == DISCONNECT:
            reason = pkt[2][0]
    raise AssertionError("the connection stayed open")


@pytest.mark.parametrize("version", VERSIONS)
def test_10_1_revoking_a_token_closes_its_open_session_within_a_second(auth_server, version):
    dev = f"r101-{version}"
    auth_server.create_device(dev)
    tok = new_token(auth_server, dev)
    other = new_token(auth_server, dev)
    raw = connected(auth_server, version, dev, tok["token"])
    bystander = RawClient(auth_server.mqtt_port)
    ack = bystander.connect(version, client_id=f"{dev}-other", username=dev,
                            password=other["token"])
    assert connack_code(version, ack) == 0
    assert auth_server.delete(f"/api/v1/devices/{dev}/tokens/{tok['id']}").status == 204
    # A publish sent right after the revocation is not stored: no PUBACK, the socket closes.
    try:
        raw.send(publish_packet(version, f"devices/{dev}/telemetry", b'{"late":1}', qos=1,
                                packet_id=2))
    except OSError:
        pass
    took, reason = closed_within(raw, version, 1.0)
    assert took < 1.0, f"closed after {took:.2f}s"
    if version == V5:
        assert reason == NOT_AUTHORIZED, reason
    time.sleep(0.2)
    assert points(auth_server, dev, "late") == [], "a publish after the revocation was stored"
    # A session authenticated with another, still valid token stays.
    bystander.send(publish_packet(version, f"devices/{dev}/telemetry", b'{"t":2}', qos=1,
                                  packet_id=7))
    assert bystander.read_packet()[0] == PUBACK
    bystander.close()
    again = RawClient(auth_server.mqtt_port)
    code = connack_code(version, again.connect(version, client_id=f"{dev}-c", username=dev,
                                               password=tok["token"]))
    assert code == (0x86 if version == V5 else 0x04)


@pytest.mark.parametrize("version", VERSIONS)
def test_10_2_deleting_a_device_closes_its_session_and_it_stays_deleted(auth_server, version):
    dev = f"r102-{version}"
    auth_server.create_device(dev)
    tok = new_token(auth_server, dev)
    raw = connected(auth_server, version, dev, tok["token"])
    assert auth_server.delete(f"/api/v1/devices/{dev}").status == 204
    took, reason = closed_within(raw, version, 1.0)
    assert took < 1.0, f"closed after {took:.2f}s"
    if version == V5:
        assert reason == NOT_AUTHORIZED, reason
    time.sleep(0.3)
    assert_error(auth_server.get(f"/api/v1/devices/{dev}"), 404)


@pytest.mark.parametrize("version", VERSIONS)
def test_10_3_without_auth_a_deleted_devices_session_is_closed_and_cannot_re_register(
        start_server, version):
    server = start_mqtt_server(start_server)
    dev = f"r103-{version}"
    raw = RawClient(server.mqtt_port)
    assert connack_code(version, raw.connect(version, client_id=dev)) == 0
    raw.send(publish_packet(version, f"devices/{dev}/heartbeat", b"{}", qos=1, packet_id=1))
    assert raw.read_packet()[0] == PUBACK
    assert server.get(f"/api/v1/devices/{dev}").status == 200
    assert server.delete(f"/api/v1/devices/{dev}").status == 204
    took, _ = closed_within(raw, version, 1.0)
    assert took < 1.0
    try:  # whatever the old socket still sends is not read
        raw.send(publish_packet(version, f"devices/{dev}/heartbeat", b"{}", qos=1, packet_id=2))
    except OSError:
        pass
    time.sleep(0.5)
    assert_error(server.get(f"/api/v1/devices/{dev}"), 404)


def test_10_4_revoking_an_api_key_closes_its_sse_stream_within_a_second(auth_server):
    key = new_key(auth_server, "read")
    other = new_key(auth_server, "read")
    sse = SseClient(auth_server.port, key=key["key"])
    stays = SseClient(auth_server.port, key=other["key"])
    assert sse.status == 200 and stays.status == 200
    assert auth_server.delete(f"/api/v1/admin/api-keys/{key['id']}").status == 204
    took = stream_closed_within(sse, 1.0)
    assert took < 1.0, f"stream closed after {took:.2f}s"
    assert stream_still_open(stays)
    assert_error(auth_server.get("/api/v1/devices", key=key["key"]), 401)


def test_10_5_changing_a_keys_role_closes_its_sse_stream(auth_server):
    key = new_key(auth_server, "write")
    sse = SseClient(auth_server.port, key=key["key"])
    resp = auth_server.patch(f"/api/v1/admin/api-keys/{key['id']}", {"role": "read"})
    assert resp.status == 200 and resp.json["role"] == "read", resp
    assert stream_closed_within(sse, 1.0) < 1.0
    # The key now has the new role.
    assert auth_server.get("/api/v1/devices", key=key["key"]).status == 200
    assert_error(auth_server.post("/api/v1/devices", {"device_id": "x105"}, key=key["key"]), 403)
    assert_error(auth_server.patch("/api/v1/admin/api-keys/nokey", {"role": "read"}), 404)
    assert_error(auth_server.patch(f"/api/v1/admin/api-keys/{key['id']}", {"role": "boss"}), 422)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("change", ["revoke", "role"])
def test_10_6_revoking_an_operator_key_closes_its_mqtt_gateway_session(auth_server, version,
                                                                        change):
    key = new_key(auth_server, "write")
    raw = connected(auth_server, version, f"gw106-{version}-{change}", key["key"])
    if change == "revoke":
        assert auth_server.delete(f"/api/v1/admin/api-keys/{key['id']}").status == 204
    else:
        assert auth_server.patch(f"/api/v1/admin/api-keys/{key['id']}",
                                 {"role": "read"}).status == 200
    took, reason = closed_within(raw, version, 1.0)
    assert took < 1.0
    if version == V5:
        assert reason == NOT_AUTHORIZED


def stream_closed_within(sse: SseClient, seconds: float) -> float:
    """Seconds until the server ends the stream (frames that still arrive are skipped)."""
    start = time.monotonic()
    deadline = start + seconds + 2
    while time.monotonic() < deadline:
        sse.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sse.sock.recv(65536):
                return time.monotonic() - start
        except socket.timeout:
            break
        except ConnectionResetError:
            return time.monotonic() - start
    raise AssertionError(f"the stream stayed open for {seconds + 2}s")


def stream_still_open(sse: SseClient) -> bool:
    sse.sock.settimeout(0.3)
    try:
        return sse.sock.recv(65536) != b""
    except socket.timeout:
        return True
