"""MQTT consumers: an operator key of the read role subscribes with wildcards to
`devices/+/telemetry`, `devices/+/heartbeat`, `fleet/status` and `fleet/alerts` (paho and
mosquitto_sub, MQTT 3.1.1 and 5.0). Every message acknowledged as durable arrives once, in
order per device; nothing refused arrives; a consumer that never reads is cut while ingest goes
on; device tokens cannot subscribe to other devices' data; a persistent consumer session
survives kill -9."""

import json
import socket
import struct
import subprocess
import threading
import time

import pytest

from fleetpulse_harness import wait_until
from mqtt_harness import V5, V311, VERSIONS, PahoClient, start_mqtt_server, varint

ADMIN = "admin-key-for-consumer-tests"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def new_key(server, role: str) -> str:
    resp = server.post("/api/v1/admin/api-keys", {"name": f"consumer-{role}", "role": role})
    assert resp.status == 201, resp
    return resp.json["key"]


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    server = start_mqtt_server(module_server_factory, admin_key=ADMIN)
    server.read_key = new_key(server, "read")
    return server


def post_points(server, device: str, values, t0: int) -> None:
    readings = [{"device_id": device, "metric": "seq", "value": v, "ts": t0 + i}
                for i, v in enumerate(values)]
    resp = server.post("/api/v1/telemetry", readings)
    assert resp.status == 200, resp


def telemetry_by_device(messages) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for m in messages:
        if not m.topic.endswith("/telemetry"):
            continue
        body = json.loads(m.payload)
        assert m.topic == f"devices/{body['device_id']}/telemetry"
        out.setdefault(body["device_id"], []).extend(p["value"] for p in body["points"])
    return out


def post_batches(server, devices: list[str], batches: int, per_batch: int) -> dict[str, list]:
    """Posts `batches` rounds of `per_batch` points to each device; returns device -> the
    values in the order they were acknowledged."""
    expected: dict[str, list] = {d: [] for d in devices}
    for batch in range(batches):
        for d in devices:
            values = [batch * 10 + j for j in range(per_batch)]
            post_points(server, d, values, T0 + batch * 10)
            expected[d].extend(values)
    return expected


@pytest.mark.parametrize("version", VERSIONS)
def test_every_durable_message_arrives_once_in_order_paho(auth_server, version):
    c = PahoClient(auth_server.mqtt_port, version, f"paho-consumer-{version}", "operator",
                   auth_server.read_key)
    assert c.subscribe("devices/+/telemetry", 1) == [1]
    expected = post_batches(auth_server, [f"pc{version}-{i}" for i in range(3)], 20, 5)
    total = sum(len(v) for v in expected.values())
    wait_until(lambda: sum(len(v) for v in telemetry_by_device(c.messages).values()) >= total,
               15, message=f"{total} points")
    time.sleep(0.3)  # anything extra (a duplicate) would arrive now
    got = telemetry_by_device(c.messages)
    assert got == expected  # each point once, in the order it was acknowledged
    assert all(m.qos == 1 for m in c.messages)
    c.close()


def test_qos0_consumers_of_both_versions_get_every_message_once(auth_server):
    """A QoS 0 packet is encoded once per protocol version and its bytes shared by every
    subscriber of that version: 3.1.1 and 5.0 consumers of the same messages each decode all
    of them, once, in order (a packet of the wrong version would not decode)."""
    clients = [PahoClient(auth_server.mqtt_port, version, f"paho-shared-{version}-{i}", "operator",
                          auth_server.read_key) for version in VERSIONS for i in range(3)]
    for c in clients:
        assert c.subscribe("devices/+/telemetry", 0) == [0]
    expected = post_batches(auth_server, [f"shared-{i}" for i in range(4)], 15, 3)
    total = sum(len(v) for v in expected.values())

    def mine(c):
        return {d: v for d, v in telemetry_by_device(c.messages).items() if d in expected}
    for c in clients:
        wait_until(lambda: sum(len(v) for v in mine(c).values()) >= total, 15,
                   message=f"{total} points")
    time.sleep(0.3)  # anything extra (a duplicate) would arrive now
    for c in clients:
        assert mine(c) == expected
        assert all(m.qos == 0 for m in c.messages)
        c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_batches_of_many_devices_reach_a_mixed_qos_consumer_once_in_order(auth_server, version):
    """Each request carries 20 devices, so each commit batch reaches a consumer as runs of
    messages written from one shared buffer: a consumer of `devices/+/telemetry` at QoS 0 that
    also asked for one device at QoS 1 gets every device's points once, in order, that device's
    at QoS 1 (its packets encoded for it) and the others' at QoS 0 (shared bytes)."""
    c = PahoClient(auth_server.mqtt_port, version, f"paho-runs-{version}", "operator",
                   auth_server.read_key)
    devices = [f"runs{version}-{i}" for i in range(20)]
    special = devices[7]
    assert c.subscribe("devices/+/telemetry", 0) == [0]
    assert c.subscribe(f"devices/{special}/telemetry", 1) == [1]
    expected: dict[str, list] = {d: [] for d in devices}
    for batch in range(12):
        readings = []
        for d in devices:
            for j in range(3):
                readings.append({"device_id": d, "metric": "seq", "value": batch * 10 + j,
                                 "ts": T0 + batch * 10 + j})
                expected[d].append(batch * 10 + j)
        resp = auth_server.post("/api/v1/telemetry", readings)
        assert resp.status == 200, resp

    def mine():
        return {d: v for d, v in telemetry_by_device(c.messages).items() if d in expected}
    total = sum(len(v) for v in expected.values())
    wait_until(lambda: sum(len(v) for v in mine().values()) >= total, 15,
               message=f"{total} points")
    time.sleep(0.3)  # anything extra (a duplicate) would arrive now
    assert mine() == expected
    qos = {m.topic: m.qos for m in c.messages if m.topic.startswith(f"devices/runs{version}-")}
    assert qos.pop(f"devices/{special}/telemetry") == 1
    assert set(qos.values()) == {0}
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_heartbeats_status_and_alerts_reach_their_topics(auth_server, version):
    c = PahoClient(auth_server.mqtt_port, version, f"paho-fleet-{version}", "operator",
                   auth_server.read_key)
    assert c.subscribe("devices/+/heartbeat", 0) == [0]
    assert c.subscribe("fleet/#", 1) == [1]
    dev = f"hb{version}"
    resp = auth_server.post("/api/v1/heartbeat", {"device_id": dev, "battery_level": 77.5,
                                                   "signal_strength": -61})
    assert resp.status in (200, 201, 202), resp
    hb = wait_until(lambda: [m for m in c.messages if m.topic == f"devices/{dev}/heartbeat"], 10,
                    message="heartbeat message")
    body = json.loads(hb[0].payload)
    assert body["device_id"] == dev and body["battery_level"] == 77.5
    assert body["signal_strength"] == -61 and "received_at" in body
    st = wait_until(lambda: [m for m in c.messages if m.topic == "fleet/status"
                             and json.loads(m.payload)["device_id"] == dev], 10,
                    message="status change")
    assert json.loads(st[0].payload)["to"] == "online"
    resp = auth_server.post("/api/v1/alerts", {"device_id": dev, "severity": "info",
                                               "message": "consumer test"})
    assert resp.status == 201, resp
    alert_id = resp.json["id"]
    al = wait_until(lambda: [m for m in c.messages if m.topic == "fleet/alerts"
                             and json.loads(m.payload)["id"] == alert_id], 10, message="alert")
    assert json.loads(al[0].payload)["state"] == "firing"
    assert auth_server.post(f"/api/v1/alerts/{alert_id}/resolve", {}).status == 200
    wait_until(lambda: [m for m in c.messages if m.topic == "fleet/alerts"
                        and json.loads(m.payload)["id"] == alert_id
                        and json.loads(m.payload)["state"] == "resolved"], 10,
               message="resolved alert")
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_mosquitto_sub_receives_every_acknowledged_message(auth_server, version):
    n = 30
    dev = f"ms{version}"
    cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(auth_server.mqtt_port), "-V",
           "mqttv5" if version == V5 else "mqttv311", "-q", "1", "-t", "devices/+/telemetry",
           "-u", "operator", "-P", auth_server.read_key, "-v", "-i", f"mosq-consumer-{version}"]
    sub = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(sub.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        # Subscribed once a probe published now reaches it.
        probe = 0
        deadline = time.monotonic() + 15
        while not lines and time.monotonic() < deadline:
            post_points(auth_server, f"probe{version}", [probe], T0 + probe)
            probe += 1
            time.sleep(0.1)
        assert lines, "mosquitto_sub received nothing"
        for i in range(n):
            post_points(auth_server, dev, [i], T0 + 100_000 + i)
        mine = lambda: [ln for ln in lines if ln.startswith(f"devices/{dev}/telemetry ")]
        wait_until(lambda: len(mine()) >= n, 15, message=f"{n} messages at mosquitto_sub")
        time.sleep(0.3)
        values = [json.loads(ln.split(" ", 1)[1])["points"][0]["value"] for ln in mine()]
        assert values == list(range(n))
    finally:
        sub.kill()
        sub.wait()


def test_refused_data_publishes_nothing(auth_server):
    c = PahoClient(auth_server.mqtt_port, V5, "paho-refused", "operator", auth_server.read_key)
    c.subscribe("devices/#", 1)
    resp = auth_server.post("/api/v1/telemetry", [{"device_id": "bad dev!", "metric": "x",
                                                   "value": 1}])
    assert resp.status in (400, 422), resp
    post_points(auth_server, "after-refused", [42], T0)
    wait_until(lambda: telemetry_by_device(c.messages).get("after-refused"), 10,
               message="the accepted point")
    assert set(telemetry_by_device(c.messages)) == {"after-refused"}
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_device_token_cannot_subscribe_to_other_devices(auth_server, version):
    dev = f"tok{version}"
    assert auth_server.post("/api/v1/devices", {"device_id": dev}).status == 201
    tok = auth_server.post(f"/api/v1/devices/{dev}/tokens", {"name": "t"}).json["token"]
    c = PahoClient(auth_server.mqtt_port, version, f"dev-sub-{version}", dev, tok)
    for f in ("devices/+/telemetry", "devices/+/heartbeat", "fleet/#", "#"):
        assert c.subscribe(f, 1) == [0xA2 if version == V5 else 0x80], f  # no wildcards
    for f in ("fleet/status", "fleet/alerts", "devices/other/telemetry",
              f"devices/{dev}/telemetry"):
        assert c.subscribe(f, 1) == [0x8F if version == V5 else 0x80], f
    assert c.subscribe(f"devices/{dev}/commands", 1) == [1]  # its own pushes still work
    post_points(auth_server, "someone-else", [1], T0)
    time.sleep(0.5)
    assert not [m for m in c.messages if "telemetry" in m.topic]
    c.close()


def test_read_key_may_not_publish_and_bad_filters_are_refused(auth_server):
    for bad in (b"devices/#/telemetry", b"devices/a+/telemetry"):  # paho refuses to send these
        s = raw_connect(auth_server.mqtt_port, auth_server.read_key, "raw-bad-filter")
        body = b"\x00\x07" + struct.pack(">H", len(bad)) + bad + b"\x01"
        s.sendall(b"\x82" + varint(len(body)) + body)
        # A malformed filter is a malformed packet (MQTT-4.7.1): the connection is closed.
        assert s.recv(5) == b"", bad
        s.close()
    c = PahoClient(auth_server.mqtt_port, V5, "paho-readonly", "operator", auth_server.read_key)
    c.client.publish("devices/x/telemetry", json.dumps({"metric": "m", "value": 1}), qos=1)
    assert c.disconnected.wait(10)
    assert c.disconnect_rc == 0x87
    assert "x" not in auth_server.device_ids()


def test_wrong_key_is_refused_at_connect(auth_server):
    c = PahoClient(auth_server.mqtt_port, V5, "paho-wrongkey", "operator", "fp_not_a_key",
                   expect_rc=None)
    assert c.rc == 0x86
    c.client.loop_stop()


# --------------------------------------------------------------------------------------------
# a consumer that never reads


def raw_connect(port: int, key: str, client_id: str, rcvbuf: int = 0) -> socket.socket:
    """A raw MQTT 3.1.1 connection with an operator key, CONNACK read."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    user, pw, cid = b"operator", key.encode(), client_id.encode()
    vh = b"\x00\x04MQTT\x04\xc2\x00\x3c"  # 3.1.1, user+password+clean session, keep-alive 60
    payload = (struct.pack(">H", len(cid)) + cid + struct.pack(">H", len(user)) + user +
               struct.pack(">H", len(pw)) + pw)
    body = vh + payload
    s.sendall(b"\x10" + varint(len(body)) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    return s


def raw_consumer(port: int, key: str, client_id: str) -> socket.socket:
    s = raw_connect(port, key, client_id, rcvbuf=4096)  # small: the server's side fills
    topic = b"devices/+/telemetry"
    body = b"\x00\x01" + struct.pack(">H", len(topic)) + topic + b"\x00"
    s.sendall(b"\x82" + varint(len(body)) + body)
    assert s.recv(5) == b"\x90\x03\x00\x01\x00"
    return s


def metric_value(server, name: str) -> float:
    for line in server.metrics_text().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_consumer_that_never_reads_is_cut_and_ingest_goes_on(start_server):
    server = start_mqtt_server(start_server, "--mqtt-consumer-queue", "256KiB", admin_key=ADMIN)
    key = new_key(server, "read")
    stalled = raw_consumer(server.mqtt_port, key, "stalled")
    # Another consumer, on a device the flood does not touch, keeps being served.
    healthy = PahoClient(server.mqtt_port, V311, "healthy", "operator", key)
    healthy.subscribe("devices/after-cut/telemetry", 1)
    big = [float(i) for i in range(500)]  # ~20 KB of JSON per message
    durations = []
    for batch in range(1000):  # ~20 MB: far beyond the socket buffers and the queue
        t = time.monotonic()
        post_points(server, f"flood-{batch % 4}", big, T0 + batch * 1000)
        durations.append(time.monotonic() - t)
        if batch > 20 and metric_value(server, "fleetpulse_mqtt_consumer_overflows_total") >= 1:
            break
    wait_until(lambda: metric_value(server, "fleetpulse_mqtt_consumer_overflows_total") >= 1, 10,
               message="the stalled consumer cut")
    # Ingest went on: more is accepted and reaches the healthy consumer.
    for batch in range(10):
        post_points(server, "after-cut", [float(batch)], T0 + 10_000_000 + batch)
    wait_until(lambda: len(telemetry_by_device(healthy.messages).get("after-cut", [])) >= 10, 20,
               message="the points after the cut at the other consumer")
    assert telemetry_by_device(healthy.messages)["after-cut"] == [float(b) for b in range(10)]
    assert metric_value(server, "fleetpulse_mqtt_consumer_overflows_total") == 1  # only it
    # The stalled socket was closed by the server: reading it drains and then hits the end.
    stalled.settimeout(10)
    deadline = time.monotonic() + 15
    ended = False
    while time.monotonic() < deadline:
        try:
            if not stalled.recv(1 << 20):
                ended = True
                break
        except ConnectionResetError:
            ended = True
            break
    assert ended, "the server kept the stalled consumer open"
    # A stalled reader never made a write slow: the slowest write is far below client timeouts.
    assert max(durations) < 5, durations
    healthy.close()


# --------------------------------------------------------------------------------------------
# persistence


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_consumer_subscription_survives_kill9(start_server, version):
    server = start_mqtt_server(start_server, admin_key=ADMIN)
    key = new_key(server, "read")
    c = PahoClient(server.mqtt_port, version, f"durable-consumer-{version}", "operator", key,
                   clean=False)
    assert c.subscribe("devices/+/telemetry", 1) == [1]
    c.close()
    server.kill()
    server.restart()
    c = PahoClient(server.mqtt_port, version, f"durable-consumer-{version}", "operator", key,
                   clean=False)
    assert c.session_present
    post_points(server, "after-restart", [7], T0)
    msgs = wait_until(lambda: telemetry_by_device(c.messages).get("after-restart"), 10,
                      message="telemetry without subscribing again")
    assert msgs == [7]
    c.close()
