"""Distinct attribute keys per device are bounded (--max-attributes-per-device): string values,
units and line-protocol tags each become a catalog row per key, so a client inventing keys
could grow the catalog without end. A request or MQTT message that would take a device past
the limit is refused whole with 422 (MQTT 5: PUBACK 0x97) naming the option, counted in
fleetpulse_ingest_rejected_total{reason="attributes_per_device_limit"}; keys the device already
has keep working, and the count holds across kill -9 (it is read back from the catalog). The
ingest routes document their 429 and 503 answers."""

from __future__ import annotations

import json
import os

from fleetpulse_harness import metric_value, wait_until
from mqtt_harness import PUBACK, V5, RawClient, connack_code, publish_packet, start_mqtt_server

REJECTED = "fleetpulse_ingest_rejected_total"
REASON = "attributes_per_device_limit"


def rejected(server) -> float:
    return metric_value(server.metrics_text(), REJECTED, reason=REASON) or 0.0


def reading(device: str, **values) -> dict:
    return {"device_id": device, "ts": 1767225600000, **values}


def test_attribute_keys_per_device_are_bounded_and_survive_kill_9(start_server):
    server = start_mqtt_server(start_server, "--max-attributes-per-device", "5")
    first = reading("attr1", temp=1.0, **{f"s{i}": f"v{i}" for i in range(5)})
    assert server.post("/api/v1/telemetry", first).status == 200
    # One key more: refused whole (its number is not stored either), the option named.
    resp = server.post("/api/v1/telemetry", reading("attr1", humidity=3.0, s5="new"))
    assert resp.status == 422, resp
    assert resp.json["error"]["code"] == "limit_exceeded", resp.json
    assert "--max-attributes-per-device" in resp.json["error"]["message"], resp.json
    assert "'attr1'" in resp.json["error"]["message"], resp.json
    assert rejected(server) == 1
    # Keys it has already keep working; another device has its own budget.
    assert server.post("/api/v1/telemetry", reading("attr1", s0="again", temp=2.0)).status == 200
    assert server.post("/api/v1/telemetry", reading("attr2", s5="x")).status == 200
    # Line protocol tags count too.
    lines = "m,device_id=attr1,site=a v=1"
    resp = server.post("/api/v1/write", raw=lines, headers={"Content-Type": "text/plain"})
    assert resp.status == 422 and "--max-attributes-per-device" in resp.json["error"]["message"]
    # MQTT 5: PUBACK 0x97 for a message that would add a key.
    raw = RawClient(server.mqtt_port)
    assert connack_code(V5, raw.connect(V5, client_id="attr-mqtt", clean=True)) == 0
    raw.send(publish_packet(V5, "devices/attr1/telemetry", b'{"s9": "x"}', qos=1))
    ack = raw.read_packet()
    assert ack is not None and ack[0] == PUBACK and ack[2][2:3] == b"\x97", ack
    raw.close()
    metrics_before = rejected(server)
    assert metrics_before >= 3
    # The humidity of the refused request was not stored.
    latest = server.get("/api/v1/devices/attr1/latest").json["values"]
    assert "humidity" not in latest and "temp" in latest, latest

    # The device's keys are in the catalog: after kill -9 the limit still holds.
    wait_until(lambda: len(server.get("/api/v1/devices/attr1").json.get("attributes") or {}) >= 5,
               timeout=10, message="attributes stored")
    server.kill()
    server.start()
    resp = server.post("/api/v1/telemetry", reading("attr1", s7="after"))
    assert resp.status == 422, f"the limit forgot the device's keys after kill -9: {resp!r}"
    assert server.post("/api/v1/telemetry", reading("attr1", s1="after")).status == 200


def test_many_distinct_keys_in_one_request_are_refused_at_once(start_server):
    server = start_server()  # the default limit, 1000
    values = {f"k{i}": "x" for i in range(20_000)}
    resp = server.post("/api/v1/telemetry", reading("attr-many", **values))
    assert resp.status == 422, resp
    assert "--max-attributes-per-device" in resp.json["error"]["message"]
    assert "(1000)" in resp.json["error"]["message"]
    assert server.get("/api/v1/devices/attr-many").status in (200, 404)
    assert rejected(server) == 1


def test_ingest_routes_document_429_and_503():
    spec = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "web",
                                       "openapi.json")))
    for path in ("/api/v1/telemetry", "/api/v1/write"):
        responses = spec["paths"][path]["post"]["responses"]
        for code in ("422", "429", "503"):
            assert code in responses, f"{path} does not document {code}"
    # InfluxDB 1.x's /write answers a bad line with 400 and overload with 503 (Telegraf's v1
    # output drops a batch on any 4xx), so fleetpulse's /write does the same.
    responses = spec["paths"]["/write"]["post"]["responses"]
    for code in ("400", "503"):
        assert code in responses, f"/write does not document {code}"
    props = spec["components"]["schemas"]["IngestResult"]["properties"]
    assert "rejected_count" in props


def test_a_deleted_and_recreated_device_starts_with_an_empty_attribute_budget(start_server):
    # The catalog drops a deleted device's attribute rows; the server's cache of its keys must
    # go with them, or the new device of the same id inherits the old one's keys.
    server = start_server("--max-attributes-per-device", "5")
    old = reading("attr-reborn", **{f"old{i}": "v" for i in range(5)})
    assert server.post("/api/v1/telemetry", old).status == 200
    assert server.post("/api/v1/telemetry", reading("attr-reborn", new0="v")).status == 422
    assert server.delete("/api/v1/devices/attr-reborn").status == 204
    fresh = reading("attr-reborn", **{f"new{i}": "v" for i in range(5)})
    resp = server.post("/api/v1/telemetry", fresh)
    assert resp.status == 200, f"the re-created device kept the deleted one's keys: {resp!r}"
    # And its budget is now full with its own keys.
    assert server.post("/api/v1/telemetry", reading("attr-reborn", old0="v")).status == 422
    wait_until(lambda: sorted(server.get("/api/v1/devices/attr-reborn").json.get("attributes")
                              or {}) == [f"new{i}" for i in range(5)],
               timeout=10, message="only the new device's attributes stored")
