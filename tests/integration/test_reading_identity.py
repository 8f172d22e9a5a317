"""The identity of a reading: a reading without a device timestamp is always stored as its own
point (the server stamps it, strictly increasing per series), over HTTP JSON (every reading
form), line protocol, MQTT (3.1.1 and 5, raw socket and paho) and the MQTT bridge, also across
kill -9; a reading with an explicit timestamp equal to a stored one still overwrites it. Every
item is stored or rejected: a string `value` is a per-item 422, other strings are device
attributes readable on the device (durable once acknowledged), and every drop is counted in
/metrics with a reason."""

import json
import time

import pytest

from fleetpulse_harness import metric_value, urlquote, wait_until
from mqtt_harness import (PUBACK, V5, VERSIONS, PahoClient, RawClient, mosquitto_pub,
                          publish_packet, start_mqtt_server)
from test_durability import all_points
from test_metrics import promtool_check
from test_mqtt_08_bridge import bridge_connected, bridged, broker
from test_telemetry_ingest import T0

__all__ = ["broker"]

N = 40


def values_of(server, dev, metric):
    return [v for _, v in all_points(server, dev, metric)]


def assert_distinct_points(server, dev, metric, expected_values):
    pts = all_points(server, dev, metric)
    assert sorted(v for _, v in pts) == sorted(expected_values), pts
    stamps = [t for t, _ in pts]
    assert len(set(stamps)) == len(stamps), stamps
    return pts


def rejected_total(server, reason):
    return metric_value(server.metrics_text(), "fleetpulse_ingest_rejected_total",
                        reason=reason) or 0.0


# -- HTTP JSON --------------------------------------------------------------------------------

FORMS = {
    "flat": lambda i: {"device_id": "{dev}", "m": i},
    "metric_value": lambda i: {"device_id": "{dev}", "metric": "m", "value": i},
    "metric_type": lambda i: {"device_id": "{dev}", "metric_type": "m", "value": i},
    "values": lambda i: {"device_id": "{dev}", "values": {"m": i}},
}


@pytest.mark.parametrize("form", list(FORMS))
def test_bulk_of_n_readings_of_one_series_without_ts_keeps_n_points(shared_server, form):
    dev = f"bulk-{form}"
    readings = [json.loads(json.dumps(FORMS[form](i)).replace("{dev}", dev)) for i in range(N)]
    resp = shared_server.post("/api/v1/telemetry", {"readings": readings})
    assert resp.status == 200 and resp.json == {"accepted": N}, resp
    pts = assert_distinct_points(shared_server, dev, "m", list(range(N)))
    # Server stamps keep the order the readings came in.
    assert [v for _, v in pts] == list(range(N))


def test_concurrent_requests_without_ts_for_one_series_keep_every_reading(shared_server):
    """Many requests land in one commit group: each reading is still its own point."""
    import threading
    dev = "bulk-concurrent"
    errors = []

    def send(k):
        for j in range(10):
            r = shared_server.request("POST", "/api/v1/telemetry",
                                    {"device_id": dev, "m": k * 100 + j})
            if r.status != 200:
                errors.append(r)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert_distinct_points(shared_server, dev, "m", [k * 100 + j for k in range(4) for j in range(10)])


def test_line_protocol_lines_without_timestamps_in_one_request_are_all_kept(shared_server):
    dev = "lp-nots"
    body = "\n".join(f"env,device_id={dev} temp={i},hum={100 + i}" for i in range(N))
    resp = shared_server.post("/api/v1/write", raw=body, headers={"Content-Type": "text/plain"})
    assert resp.status == 204, resp
    assert_distinct_points(shared_server, dev, "env.temp", list(range(N)))
    assert_distinct_points(shared_server, dev, "env.hum", [100 + i for i in range(N)])


def test_explicit_equal_timestamp_still_overwrites(shared_server):
    dev = "overwrite-explicit"
    for v in (1.0, 2.0, 3.0):
        resp = shared_server.post("/api/v1/telemetry", {"device_id": dev, "ts": T0, "m": v})
        assert resp.status == 200, resp
    body = "\n".join(f"env,device_id={dev} t={v} {T0}" for v in (4, 5))
    assert shared_server.post("/api/v1/write?precision=ms", raw=body,
                              headers={"Content-Type": "text/plain"}).status == 204
    assert all_points(shared_server, dev, "m") == [(T0, 3.0)]
    assert all_points(shared_server, dev, "env.t") == [(T0, 5.0)]


def test_reading_without_ts_never_replaces_an_explicit_point_at_its_receive_time(shared_server):
    """An explicit point stamped 'now' and server-stamped readings right after it: all kept."""
    dev = "explicit-vs-server"
    for i in range(20):  # a series per round: a later explicit point may replace a stamp
        now = int(time.time() * 1000)
        assert shared_server.post("/api/v1/telemetry",
                                  {"readings": [{"device_id": dev, "ts": now, f"m{i}": 1},
                                                {"device_id": dev, f"m{i}": 2}]}).status == 200
    for i in range(20):
        assert sorted(values_of(shared_server, dev, f"m{i}")) == [1, 2], i


# -- every item is stored or rejected ----------------------------------------------------------

@pytest.mark.parametrize("key", ["metric", "metric_type"])
def test_string_value_is_a_422_with_its_index_and_the_other_item_is_stored(shared_server, key):
    dev = f"strval-{key}"
    before = rejected_total(shared_server, "invalid_reading")
    resp = shared_server.post("/api/v1/telemetry", [{"device_id": dev, key: "m", "value": 1.0},
                                                    {"device_id": dev, key: "m", "value": "abc"}])
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 1
    assert [r["index"] for r in resp.json["rejected"]] == [1]
    assert "value" in resp.json["rejected"][0]["error"]
    assert values_of(shared_server, dev, "m") == [1.0]
    assert rejected_total(shared_server, "invalid_reading") == before + 1


def test_strings_elsewhere_are_device_attributes_durable_across_kill_9(start_server):
    server = start_server()
    resp = server.post("/api/v1/telemetry",
                       [{"device_id": "attr-1", "metric": "temp", "value": 21.5, "unit": "C"},
                        {"device_id": "attr-1", "temp2": 3, "firmware": "1.2", "unit": "V"}])
    assert resp.status == 200, resp
    lines = ("env,device_id=attr-2,location=hall\\ 3,type=sensor,name=Probe,rack=r7 t=1\n"
             "env,device_id=attr-2,location=hall\\ 3,type=sensor,name=Probe,rack=r7 t=2\n")
    assert server.post("/api/v1/write", raw=lines, headers={"Content-Type": "text/plain"}).status == 204
    server.kill()  # SIGKILL right after the acknowledgements
    server.start()
    d1 = server.device("attr-1")
    assert d1["attributes"] == {"temp.unit": "C", "firmware": "1.2", "unit": "V"}, d1
    d2 = server.device("attr-2")
    assert d2["attributes"] == {"tag.location": "hall 3", "tag.type": "sensor",
                                "tag.name": "Probe", "tag.rack": "r7"}, d2
    assert (d2["location"], d2["type"], d2["name"]) == ("hall 3", "sensor", "Probe"), d2
    # A newer value replaces the attribute.
    assert server.post("/api/v1/telemetry", {"device_id": "attr-1", "firmware": "1.3",
                                             "x": 1}).status == 200
    assert server.device("attr-1")["attributes"]["firmware"] == "1.3"


def test_drops_are_counted_with_a_reason_and_metrics_pass_promtool(shared_server):
    shared_server.post("/api/v1/telemetry", [{"device_id": "drop-1", "metric": "m", "value": "x"}])
    shared_server.post("/api/v1/telemetry", raw="{nope", headers={"Content-Type": "application/json"})
    shared_server.post("/api/v1/write", raw="env t=1\n", headers={"Content-Type": "text/plain"})
    assert shared_server.post("/api/v1/write?precision=h", raw="env,device_id=x t=1\n",
                              headers={"Content-Type": "text/plain"}).status == 400
    text = shared_server.metrics_text()
    for reason in ("invalid_reading", "malformed_body", "invalid_parameter"):
        assert (metric_value(text, "fleetpulse_ingest_rejected_total", reason=reason) or 0) > 0, \
            reason
    assert promtool_check(text).returncode == 0, promtool_check(text).stdout


# -- MQTT -------------------------------------------------------------------------------------

def raw_burst(port, version, dev, n, first=0):
    raw = RawClient(port)
    raw.connect(version, client_id=f"{dev}-raw-{first}")
    raw.send(b"".join(publish_packet(version, f"devices/{dev}/telemetry",
                                     json.dumps({"n": first + i}).encode(), qos=1,
                                     packet_id=i + 1) for i in range(n)))
    for _ in range(n):
        pkt = raw.read_packet()
        assert pkt is not None and pkt[0] == PUBACK, pkt
        assert len(pkt[2]) <= 2 or pkt[2][2] == 0, pkt
    raw.close()


def paho_burst(port, version, dev, n, first=0):
    c = PahoClient(port, version, client_id=f"{dev}-paho-{first}")
    infos = [c.client.publish(f"devices/{dev}/telemetry", json.dumps({"n": first + i}), qos=1)
             for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    c.close()


@pytest.mark.parametrize("client", ["raw", "paho"])
@pytest.mark.parametrize("version", VERSIONS)
def test_mqtt_qos1_burst_without_ts_keeps_every_point_after_puback_and_kill_9(start_server,
                                                                              version, client):
    server = start_mqtt_server(start_server)
    dev = f"mqtt-burst-{client}-{version}"
    burst = raw_burst if client == "raw" else paho_burst
    burst(server.mqtt_port, version, dev, N)
    assert_distinct_points(server, dev, "n", list(range(N)))
    server.kill()  # SIGKILL right after the last PUBACK was read
    server.start()
    assert_distinct_points(server, dev, "n", list(range(N)))
    # After the restart, new readings without ts are again their own points (none replaced).
    burst(server.mqtt_port, version, dev, N, first=N)
    assert_distinct_points(server, dev, "n", list(range(2 * N)))


@pytest.mark.parametrize("version", VERSIONS)
def test_mqtt_explicit_equal_ts_still_overwrites(start_server, version):
    server = start_mqtt_server(start_server)
    dev = f"mqtt-overwrite-{version}"
    c = PahoClient(server.mqtt_port, version)
    for v in (1, 2, 3):
        c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0, "n": v}), qos=1)
    c.close()
    assert all_points(server, dev, "n") == [(T0, 3)]


@pytest.mark.parametrize("version", VERSIONS)
def test_bridge_burst_without_ts_keeps_every_point(start_server, broker, version):
    server = bridged(start_server, broker)
    wait_until(lambda: bridge_connected(server), 10, message="bridge connected")
    dev = f"bridge-nots-{version}"
    c = PahoClient(broker.port, version, client_id=f"pub-{version}")
    for i in range(N):
        c.publish(f"devices/{dev}/telemetry", json.dumps({"n": i}), qos=1)
    c.close()

    def stored():
        if server.get(f"/api/v1/devices/{urlquote(dev)}").status != 200:
            return 0
        return len(all_points(server, dev, "n"))

    wait_until(lambda: stored() >= N, 15, message=f"{N} bridged points")
    time.sleep(0.3)
    assert_distinct_points(server, dev, "n", list(range(N)))
