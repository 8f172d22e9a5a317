"""The device-side calls of the small stacks fleetpulse replaces, sent byte for byte as those
stacks document them (docs/compatibility.md), each answered with a success body such a client
accepts and then read back through the native API; device registration bodies in their
spelling (device_name, device_type, status, extra fields kept in metadata); the same calls
gzip-compressed; the MQTT payload from mosquitto_pub, paho and MQTT.js; the same calls with
auth on; an acknowledged /ingest survives kill -9."""

import gzip

import paho.mqtt.client as paho
import pytest

from compat_clients import run_node
from fleetpulse_harness import assert_error, urlquote, wait_until
from mqtt_harness import V311, mosquitto_pub, start_mqtt_server

JSON = {"Content-Type": "application/json"}

# (method, path, body bytes exactly as the stacks send them)
HEARTBEAT = (b'{"device_id":"test-device-001","name":"Test Sensor","battery_level":85.5,'
             b'"signal_strength":-45.2,"location":"Test Room"}')
INGEST = b'{"device_id":"dev-1","temperature_c":25.5,"humidity":60.0}'
DEVICE_DATA = b'{"device_id":"device_01","metric_type":"temperature","value":22.5}'
BULK = (b'{"readings":[{"device_id":"d1","metric_type":"humidity","value":55.2},'
        b'{"device_id":"d1","metric_type":"temperature","value":21.1}]}')
METRICS = (b'{"timestamp":"2024-01-01T12:00:00Z","metric_type":"uptime","value":0.95,'
           b'"unit":"percentage"}')
REGISTER = (b'{"device_id":"device-004","device_name":"New Sensor","device_type":"temperature",'
            b'"location":"Building C","status":"active","metadata":{"sampling_rate":"5s"}}')
UPDATE = b'{"device_name":"Updated Sensor","location":"Building D"}'
MQTT_TELEMETRY = ('{"timestamp":"2026-02-12T16:00:00.000Z","device_id":"device-001",'
                  '"temperature":23.5,"unit":"celsius"}')


def latest(server, device_id, key=...):
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/latest", key=key)
    assert resp.status == 200, resp
    return {m: v["value"] for m, v in resp.json["values"].items()}


def device(server, device_id, key=...):
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}", key=key)
    assert resp.status == 200, resp
    return resp.json


def test_post_heartbeat_updates_the_device(shared_server):
    resp = shared_server.post("/heartbeat", raw=HEARTBEAT, headers=JSON)
    assert resp.status == 200, resp
    assert resp.json["device_id"] == "test-device-001" and resp.json["status"] == "online"
    d = device(shared_server, "test-device-001")
    assert (d["name"], d["location"], d["battery_level"], d["signal_strength"]) == (
        "Test Sensor", "Test Room", 85.5, -45.2)


def test_post_ingest_answers_queued_once_stored(shared_server):
    resp = shared_server.post("/ingest", raw=INGEST, headers=JSON)
    assert resp.status == 200, resp
    assert resp.json == {"status": "queued", "device_id": "dev-1"}
    assert latest(shared_server, "dev-1") == {"temperature_c": 25.5, "humidity": 60.0}


def test_post_ingest_with_ts_lat_lon(shared_server):
    body = (b'{"device_id":"dev-geo","ts":"2026-02-12T16:00:00Z","temperature_c":25.5,'
            b'"humidity":60.0,"lat":52.1,"lon":4.3}')
    resp = shared_server.post("/ingest", raw=body, headers=JSON)
    assert resp.status == 200 and resp.json["device_id"] == "dev-geo", resp
    resp = shared_server.get("/api/v1/devices/dev-geo/latest")
    assert resp.json["values"]["temperature_c"] == {"value": 25.5,
                                                     "ts": "2026-02-12T16:00:00.000Z"}


def test_post_api_device_data_and_bulk(shared_server):
    resp = shared_server.post("/api/device/data", raw=DEVICE_DATA, headers=JSON)
    assert resp.status == 200 and resp.json == {"status": "success", "accepted": 1}, resp
    assert latest(shared_server, "device_01") == {"temperature": 22.5}
    resp = shared_server.post("/api/device/data/bulk", raw=BULK, headers=JSON)
    assert resp.status == 200 and resp.json == {"status": "success", "accepted": 2}, resp
    assert latest(shared_server, "d1") == {"humidity": 55.2, "temperature": 21.1}


def test_bulk_with_a_bad_reading_stores_the_good_ones_and_names_the_bad(shared_server):
    # A string or object value is refused per item (never swallowed); the good one is stored.
    body = (b'{"readings":[{"device_id":"bulk-bad","metric_type":"humidity","value":55.5},'
            b'{"device_id":"bulk-bad","metric_type":"humidity","value":"wet?"},'
            b'{"device_id":"bulk-bad","metric_type":"temperature","value":{"x":1}}]}')
    resp = shared_server.post("/api/device/data/bulk", raw=body, headers=JSON)
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 1 and [r["index"] for r in resp.json["rejected"]] == [1, 2]
    assert shared_server.get("/api/v1/devices/bulk-bad").status == 200


def test_post_api_devices_id_heartbeat_without_body(shared_server):
    resp = shared_server.post("/api/devices/device-001/heartbeat", raw=b"")
    assert resp.status == 200 and resp.json["device_id"] == "device-001", resp
    assert device(shared_server, "device-001")["status"] == "online"


def test_post_api_v1_devices_id_metrics_takes_the_device_from_the_path(shared_server):
    resp = shared_server.post("/api/v1/devices/TEST_DEVICE_001/metrics", raw=METRICS,
                              headers=JSON)
    assert resp.status == 200, resp
    assert resp.json == {"status": "success", "device_id": "TEST_DEVICE_001", "accepted": 1}
    resp = shared_server.get("/api/v1/devices/TEST_DEVICE_001/telemetry?metric=uptime"
                             "&start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z")
    assert resp.json["points"] == [{"ts": "2024-01-01T12:00:00.000Z", "value": 0.95}], resp


def test_registration_in_the_stacks_spelling_maps_name_type_and_enabled(shared_server):
    resp = shared_server.post("/api/v1/devices", raw=REGISTER, headers=JSON)
    assert resp.status == 201, resp
    d = device(shared_server, "device-004")
    assert (d["name"], d["type"], d["location"]) == ("New Sensor", "temperature", "Building C")
    assert d["metadata"] == {"sampling_rate": "5s", "enabled": True}
    resp = shared_server.put("/api/v1/devices/device-004", raw=UPDATE, headers=JSON)
    assert resp.status == 200, resp
    d = device(shared_server, "device-004")
    assert (d["name"], d["type"], d["location"]) == ("Updated Sensor", "temperature",
                                                     "Building D")
    assert d["metadata"] == {"sampling_rate": "5s", "enabled": True}
    resp = shared_server.patch("/api/v1/devices/device-004", {"status": "inactive"})
    assert resp.status == 200, resp
    assert device(shared_server, "device-004")["metadata"] == {"sampling_rate": "5s",
                                                               "enabled": False}


def test_unknown_device_fields_are_kept_in_metadata_never_dropped(shared_server):
    resp = shared_server.post("/api/v1/devices", {
        "device_id": "extra-1", "name": "x", "firmware": "1.2.3", "tags": ["a", "b"],
        "metadata": {"room": 4}})
    assert resp.status == 201, resp
    assert device(shared_server, "extra-1")["metadata"] == {
        "room": 4, "firmware": "1.2.3", "tags": ["a", "b"]}
    resp = shared_server.put("/api/v1/devices/extra-1", {"firmware": "1.2.4"})
    assert resp.status == 200, resp
    assert device(shared_server, "extra-1")["metadata"] == {
        "room": 4, "firmware": "1.2.4", "tags": ["a", "b"]}


def test_a_status_other_than_active_or_inactive_is_refused_naming_it(shared_server):
    resp = shared_server.post("/api/v1/devices", {"device_id": "st-1", "status": "broken"})
    err = assert_error(resp, 422)
    assert "status" in err["message"] and "broken" in err["message"]
    assert shared_server.get("/api/v1/devices/st-1").status == 404


def test_mqtt_iot_telemetry_topic_unchanged(start_server):
    server = start_mqtt_server(start_server)
    proc = mosquitto_pub(server.mqtt_port, V311, "iot/device-001/telemetry", MQTT_TELEMETRY)
    assert proc.returncode == 0, proc.stderr
    resp = server.get("/api/v1/devices/device-001/latest")
    assert resp.json["values"]["temperature"] == {"value": 23.5,
                                                   "ts": "2026-02-12T16:00:00.000Z"}, resp


def mqtt_payload(device_id, temperature):
    return MQTT_TELEMETRY.replace("device-001", device_id).replace("23.5", str(temperature))


def test_paho_and_mqtt_js_publish_the_stacks_payload(start_server):
    server = start_mqtt_server(start_server)
    url = f"mqtt://127.0.0.1:{server.mqtt_port}"
    for version, device_id, temperature in [("4", "device-001", 23.5), ("5", "mqttjs-5", 24.5)]:
        topic = f"iot/{device_id}/telemetry"
        out = run_node("mqtt_client.mjs", url, version, topic, mqtt_payload(device_id,
                                                                            temperature))
        assert out == {"connected": True, "published": True}, out
    client = paho.Client(client_id="paho-compat", protocol=paho.MQTTv311)
    client.connect("127.0.0.1", server.mqtt_port)
    client.loop_start()
    try:
        info = client.publish("iot/paho-1/telemetry", mqtt_payload("paho-1", 25.5), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    for device_id, temperature in [("device-001", 23.5), ("mqttjs-5", 24.5), ("paho-1", 25.5)]:
        resp = server.get(f"/api/v1/devices/{device_id}/latest")
        assert resp.status == 200, (device_id, resp)
        assert resp.json["values"]["temperature"] == {
            "value": temperature, "ts": "2026-02-12T16:00:00.000Z"}, (device_id, resp)
    # With auth on MQTT.js logs in with a device token (user name: the device id).
    server = start_mqtt_server(start_server, admin_key="compat-admin-key-0123456789")
    assert server.post("/api/v1/devices", {"device_id": "mqttjs-tok"}).status == 201
    token = server.post("/api/v1/devices/mqttjs-tok/tokens", {}).json["token"]
    url = f"mqtt://127.0.0.1:{server.mqtt_port}"
    topic = "iot/mqttjs-tok/telemetry"
    out = run_node("mqtt_client.mjs", url, "5", topic, mqtt_payload("mqttjs-tok", 26.5),
                   "mqttjs-tok", token)
    assert out == {"connected": True, "published": True}, out
    out = run_node("mqtt_client.mjs", url, "5", topic, mqtt_payload("mqttjs-tok", 27.5),
                   "mqttjs-tok", "wrong-token")
    assert "published" not in out and out.get("code") in (134, 135), out  # bad credentials
    assert latest(server, "mqttjs-tok") == {"temperature": 26.5}


GZ = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


def test_the_stacks_calls_gzip_compressed(shared_server):
    calls = [("/heartbeat", HEARTBEAT.replace(b"test-device-001", b"gz-hb")),
             ("/api/device/data", DEVICE_DATA.replace(b"device_01", b"gz-data")),
             ("/api/device/data/bulk", BULK.replace(b'"d1"', b'"gz-bulk"')),
             ("/api/v1/devices/gz-metrics/metrics", METRICS)]
    for path, body in calls:
        resp = shared_server.post(path, raw=gzip.compress(body), headers=GZ)
        assert resp.status == 200, (path, resp)
    d = device(shared_server, "gz-hb")
    assert (d["name"], d["battery_level"]) == ("Test Sensor", 85.5)
    assert latest(shared_server, "gz-data") == {"temperature": 22.5}
    assert latest(shared_server, "gz-bulk") == {"humidity": 55.2, "temperature": 21.1}
    assert latest(shared_server, "gz-metrics") == {"uptime": 0.95}
    assert device(shared_server, "gz-metrics")["attributes"]["uptime.unit"] == "percentage"
    resp = shared_server.post("/write?db=telegraf", headers={"Content-Encoding": "gzip"},
                              raw=gzip.compress(b"env,host=gz-v1 t=19.5 1767225600000000000"))
    assert resp.status == 204, resp
    assert latest(shared_server, "gz-v1") == {"env.t": 19.5}


def test_with_auth_on_the_calls_need_a_key_or_device_token(start_server):
    server = start_server(admin_key="compat-admin-key-0123456789")
    calls = [("/heartbeat", HEARTBEAT), ("/ingest", INGEST), ("/api/device/data", DEVICE_DATA),
             ("/api/device/data/bulk", BULK), ("/api/devices/device-001/heartbeat", b""),
             ("/api/v1/devices/TEST_DEVICE_001/metrics", METRICS)]
    for path, body in calls:
        assert_error(server.post(path, raw=body, headers=JSON, key=None), 401)
    for path, body in calls:
        resp = server.post(path, raw=body, headers=JSON)
        assert resp.status == 200, (path, resp)
    # A device token writes its own device's data, not another's.
    resp = server.post("/api/v1/devices/dev-1/tokens", {})
    assert resp.status == 201, resp
    token = resp.json["token"]
    assert server.post("/ingest", raw=INGEST, headers=JSON, key=token).status == 200
    resp = server.post("/api/v1/devices/TEST_DEVICE_001/metrics", raw=METRICS, headers=JSON,
                       key=token)
    assert_error(resp, 403)


def test_acknowledged_ingest_and_registration_survive_kill_9(start_server):
    server = start_server()
    body = b'{"device_id":"dur-1","ts":"2026-02-12T16:00:00Z","temperature_c":19.25}'
    assert server.post("/ingest", raw=body, headers=JSON).status == 200
    assert server.post("/api/v1/devices", raw=REGISTER, headers=JSON).status == 201
    assert server.patch("/api/v1/devices/device-004", {"status": "inactive"}).status == 200
    server.kill()
    server.restart()
    assert latest(server, "dur-1") == {"temperature_c": 19.25}
    d = device(server, "device-004")
    assert d["name"] == "New Sensor"
    assert d["metadata"] == {"sampling_rate": "5s", "enabled": False}


def test_default_rules_cover_the_stacks_temperature_names_and_humidity(shared_server):
    ids = {r["id"]: r for r in shared_server.get("/api/v1/rules").json["rules"]}
    assert ids["default-temperature-range"]["metric"] == "temperature"
    assert ids["default-temperature-c-range"]["metric"] == "temperature_c"
    assert ids["default-humidity-range"]["metric"] == "humidity"


def test_an_ingest_too_hot_in_temperature_c_raises_the_default_alert(server):
    body = b'{"device_id":"hot-1","temperature_c":75.0,"humidity":60.0}'
    assert server.post("/ingest", raw=body, headers=JSON).status == 200

    def alert():
        alerts = server.get("/api/v1/alerts?device_id=hot-1").json["alerts"]
        return alerts[0] if alerts else None
    wait_until(lambda: alert() is not None, 5, message="alert for temperature_c")
    assert alert()["rule_id"] == "default-temperature-c-range"
