"""Telemetry ingest over HTTP: every JSON reading form of API.md (alone, mixed, wrapped in
{"readings":[...]}), timestamps (ts/timestamp/time, RFC 3339, epoch numbers, ?precision=),
booleans, string attributes, server-time stamping, per-item rejection (422) with the valid
items stored, malformed (400) and oversized (413) bodies; InfluxDB line protocol on
/api/v1/write and /write (device tags, field types, escaping, precision, bad lines); devices
registered on the fly. What was stored is always checked through the query API."""

import time

import pytest

from fleetpulse_harness import (RFC3339_MS_UTC, assert_error, rfc3339_to_epoch, urlquote,
                                wait_until)

T0 = 1767225600000  # 2026-01-01T00:00:00.000Z in epoch milliseconds
T0_RFC = "2026-01-01T00:00:00.000Z"
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"


def to_ms(text: str) -> int:
    return int(round(rfc3339_to_epoch(text) * 1000))


def latest(server, device_id: str) -> dict:
    """{metric: (value, ts_ms)} of GET /api/v1/devices/{id}/latest."""
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/latest")
    assert resp.status == 200, f"latest of {device_id}: {resp!r}"
    assert resp.json["device_id"] == device_id
    out = {}
    for metric, v in resp.json["values"].items():
        assert set(v) >= {"value", "ts"}, resp
        assert RFC3339_MS_UTC.match(v["ts"]), resp
        out[metric] = (v["value"], to_ms(v["ts"]))
    return out


def points(server, device_id: str, metric: str, query: str = WIDE) -> list[tuple[int, float]]:
    """(ts_ms, value) of every raw point of one series in `query`'s range, oldest first."""
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/telemetry?metric={urlquote(metric)}"
                      f"&limit=10000&{query}")
    assert resp.status == 200, f"raw points of {device_id}/{metric}: {resp!r}"
    assert resp.json["device_id"] == device_id and resp.json["metric"] == metric, resp
    assert resp.json["next_cursor"] is None, resp
    return [(to_ms(p["ts"]), p["value"]) for p in resp.json["points"]]


def post_ok(server, body, path="/api/v1/telemetry", accepted=None):
    resp = server.post(path, body)
    assert resp.status == 200, resp
    assert resp.header("Content-Type").startswith("application/json"), resp
    if accepted is not None:
        assert resp.json == {"accepted": accepted}, resp
    return resp


def write_lines(server, text: str, query: str = "", path: str = "/api/v1/write"):
    return server.post(path + (f"?{query}" if query else ""), raw=text.encode("utf-8"),
                       headers={"Content-Type": "text/plain; charset=utf-8"})


def write_ok(server, text: str, query: str = "", path: str = "/api/v1/write"):
    resp = write_lines(server, text, query, path)
    assert resp.status == 204, resp
    assert resp.raw == b"", resp
    return resp


# -- JSON reading forms ------------------------------------------------------------------------

def test_flat_reading_turns_each_numeric_field_into_a_metric(shared_server):
    post_ok(shared_server, {"device_id": "flat-1", "ts": "2026-02-12T16:00:00Z",
                            "temperature_c": 25.5, "humidity": 60.0, "lat": 52.1, "lon": 4.3,
                            "count": 7, "neg": -1.25}, accepted=1)
    ts = to_ms("2026-02-12T16:00:00.000Z")
    assert latest(shared_server, "flat-1") == {
        "temperature_c": (25.5, ts), "humidity": (60.0, ts), "lat": (52.1, ts),
        "lon": (4.3, ts), "count": (7, ts), "neg": (-1.25, ts)}
    assert points(shared_server, "flat-1", "temperature_c") == [(ts, 25.5)]


def test_metric_value_reading_stores_one_metric_and_keeps_unit_out_of_metrics(shared_server):
    post_ok(shared_server, {"device_id": "mv-1", "metric": "temperature", "value": 22.5,
                            "unit": "celsius", "ts": T0}, accepted=1)
    assert latest(shared_server, "mv-1") == {"temperature": (22.5, T0)}
    assert points(shared_server, "mv-1", "temperature") == [(T0, 22.5)]


def test_metric_type_value_reading_stores_one_metric(shared_server):
    post_ok(shared_server, {"device_id": "mt-1", "metric_type": "humidity", "value": 55.2,
                            "ts": T0}, accepted=1)
    assert latest(shared_server, "mt-1") == {"humidity": (55.2, T0)}


def test_values_object_reading_stores_each_entry(shared_server):
    post_ok(shared_server, {"device_id": "vo-1", "ts": T0,
                            "values": {"temperature": 21.3, "voltage": 3.7}}, accepted=1)
    assert latest(shared_server, "vo-1") == {"temperature": (21.3, T0), "voltage": (3.7, T0)}


def mixed_readings(device_id: str) -> list[dict]:
    return [
        {"device_id": device_id, "ts": "2026-01-01T00:00:01Z", "temperature_c": 25.5,
         "humidity": 60.0},
        {"device_id": device_id, "metric": "temperature", "value": 22.5, "unit": "celsius",
         "ts": T0 + 2000},
        {"device_id": device_id, "metric_type": "pressure", "value": 1013.25, "ts": T0 + 3000},
        {"device_id": device_id, "ts": T0 + 4000, "values": {"voltage": 3.7, "current": 0.5}},
    ]


@pytest.mark.parametrize("wrap", ["array", "readings-object"])
def test_all_forms_mixed_in_one_request(shared_server, wrap):
    device_id = f"mixed-{wrap}"
    readings = mixed_readings(device_id)
    body = readings if wrap == "array" else {"readings": readings}
    post_ok(shared_server, body, accepted=4)
    assert latest(shared_server, device_id) == {
        "temperature_c": (25.5, T0 + 1000), "humidity": (60.0, T0 + 1000),
        "temperature": (22.5, T0 + 2000), "pressure": (1013.25, T0 + 3000),
        "voltage": (3.7, T0 + 4000), "current": (0.5, T0 + 4000)}


def test_array_of_many_readings_is_counted_per_reading(shared_server):
    readings = [{"device_id": "many-1", "ts": T0 + i * 1000, "v": i} for i in range(120)]
    post_ok(shared_server, readings, accepted=120)
    assert points(shared_server, "many-1", "v") == [(T0 + i * 1000, i) for i in range(120)]


# -- timestamps --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["ts", "timestamp", "time"])
@pytest.mark.parametrize("form", ["rfc3339", "rfc3339-no-fraction", "epoch-ms"])
def test_time_keys_accept_rfc3339_and_epoch_milliseconds(shared_server, key, form):
    device_id = f"time-{key}-{form}"
    when = T0 + 86_400_000 + 1234  # 2026-01-02T00:00:01.234Z
    value = {"rfc3339": "2026-01-02T00:00:01.234Z", "rfc3339-no-fraction": "2026-01-02T00:00:01Z",
             "epoch-ms": when}[form]
    if form == "rfc3339-no-fraction":
        when -= 234
    post_ok(shared_server, {"device_id": device_id, key: value, "x": 1.5}, accepted=1)
    assert points(shared_server, device_id, "x") == [(when, 1.5)]


def test_rfc3339_with_an_offset_is_converted_to_utc(shared_server):
    post_ok(shared_server, {"device_id": "tz-1", "ts": "2026-01-01T02:00:00.500+02:00", "x": 1})
    resp = shared_server.get(f"/api/v1/devices/tz-1/telemetry?metric=x&{WIDE}")
    assert resp.json["points"] == [{"ts": "2026-01-01T00:00:00.500Z", "value": 1}], resp


@pytest.mark.parametrize("precision,number,expected", [
    ("s", T0 // 1000 + 5, T0 + 5000),
    ("ms", T0 + 5, T0 + 5),
    ("us", (T0 + 5) * 1000, T0 + 5),
    ("ns", (T0 + 5) * 1_000_000, T0 + 5),
])
def test_precision_parameter_sets_the_unit_of_numeric_times(shared_server, precision, number,
                                                            expected):
    device_id = f"prec-json-{precision}"
    resp = shared_server.post(f"/api/v1/telemetry?precision={precision}",
                              [{"device_id": device_id, "ts": number, "x": 2},
                               {"device_id": device_id, "metric": "y", "value": 3,
                                "timestamp": number}])
    assert resp.status == 200 and resp.json == {"accepted": 2}, resp
    assert points(shared_server, device_id, "x") == [(expected, 2)]
    assert points(shared_server, device_id, "y") == [(expected, 3)]


def test_precision_does_not_change_rfc3339_times(shared_server):
    resp = shared_server.post("/api/v1/telemetry?precision=s",
                              {"device_id": "prec-rfc", "ts": "2026-01-01T00:00:00.250Z", "x": 1})
    assert resp.status == 200, resp
    assert points(shared_server, "prec-rfc", "x") == [(T0 + 250, 1)]


def test_unknown_precision_is_a_bad_parameter(shared_server):
    assert_error(shared_server.post("/api/v1/telemetry?precision=minutes",
                                    {"device_id": "prec-bad", "ts": 1, "x": 1}), 400)
    assert shared_server.get("/api/v1/devices/prec-bad").status == 404


def test_reading_without_a_time_is_stamped_with_the_server_receive_time(shared_server):
    before = int(time.time() * 1000)
    post_ok(shared_server, [{"device_id": "notime-1", "metric": "m", "value": 1},
                            {"device_id": "notime-1", "n": 2},
                            {"device_id": "notime-1", "values": {"o": 3}}], accepted=3)
    after = int(time.time() * 1000)
    values = latest(shared_server, "notime-1")
    assert set(values) == {"m", "n", "o"}
    for metric, (_, ts) in values.items():
        assert before - 50 <= ts <= after + 50, (metric, before, ts, after)


# -- value types -------------------------------------------------------------------------------

def test_booleans_become_1_and_0(shared_server):
    post_ok(shared_server, [
        {"device_id": "bool-1", "ts": T0, "door_open": True, "alarm": False},
        {"device_id": "bool-1", "ts": T0, "metric": "relay", "value": True},
        {"device_id": "bool-1", "ts": T0, "values": {"pump": False, "fan": True}}], accepted=3)
    assert latest(shared_server, "bool-1") == {
        "door_open": (1, T0), "alarm": (0, T0), "relay": (1, T0), "pump": (0, T0),
        "fan": (1, T0)}


def test_string_fields_are_not_metrics(shared_server):
    post_ok(shared_server, {"device_id": "str-1", "ts": T0, "temp": 20.5, "firmware": "1.2.3",
                            "mode": "eco", "values": {"volts": 3.3, "label": "main"}}, accepted=1)
    assert latest(shared_server, "str-1") == {"temp": (20.5, T0), "volts": (3.3, T0)}
    resp = shared_server.get(f"/api/v1/devices/str-1/telemetry?metric=firmware&{WIDE}")
    assert resp.status in (200, 404), resp
    if resp.status == 200:
        assert resp.json["points"] == [], resp


def test_integer_and_large_and_tiny_numbers_keep_their_value(shared_server):
    post_ok(shared_server, {"device_id": "num-1", "ts": T0, "big": 9007199254740991,
                            "tiny": 1.5e-9, "zero": 0, "neg": -273.15, "sci": 6.02e23})
    assert latest(shared_server, "num-1") == {
        "big": (9007199254740991, T0), "tiny": (1.5e-9, T0), "zero": (0, T0),
        "neg": (-273.15, T0), "sci": (6.02e23, T0)}


# -- rejections ---------------------------------------------------------------------------------

def test_invalid_readings_are_rejected_individually_and_valid_ones_stored(shared_server):
    body = [
        {"device_id": "part-ok", "ts": T0, "good_a": 1},                       # 0 ok
        {"ts": T0, "orphan": 1},                                                # 1 no device
        {"device_id": "part-ok", "ts": "yesterday-ish", "bad_ts": 1},           # 2 bad time
        {"device_id": "part-ok", "metric": "bad_novalue", "ts": T0},            # 3 no value
        {"device_id": "part-ok", "metric_type": "good_b", "value": 2, "ts": T0},  # 4 ok
        {"device_id": "part bad id!", "ts": T0, "x": 1},                        # 5 bad id
        {"device_id": 42, "ts": T0, "x": 1},                                    # 6 id not text
        {"device_id": "part-ok", "ts": T0, "values": [1, 2]},                   # 7 values not obj
        17,                                                                     # 8 not an object
        {"device_id": "part-only-bad", "ts": T0},                               # 9 no values
        {"device_id": "part-ok", "ts": T0, "values": {"good_c": 3}},            # 10 ok
    ]
    resp = shared_server.post("/api/v1/telemetry", body)
    assert resp.status == 422, resp
    assert resp.header("Content-Type").startswith("application/json"), resp
    assert resp.json["accepted"] == 3, resp
    rejected = resp.json["rejected"]
    assert [r["index"] for r in rejected] == [1, 2, 3, 5, 6, 7, 8, 9], resp
    for r in rejected:
        assert isinstance(r["error"], str) and r["error"], r
    # The valid readings are stored, the invalid ones are not.
    assert latest(shared_server, "part-ok") == {"good_a": (1, T0), "good_b": (2, T0),
                                                "good_c": (3, T0)}
    assert shared_server.get("/api/v1/devices/part-only-bad").status == 404
    assert shared_server.get("/api/v1/devices/part-only-bad/latest").status == 404


def test_request_with_only_invalid_readings_stores_nothing(shared_server):
    resp = shared_server.post("/api/v1/telemetry", [{"device_id": "allbad-1", "ts": "nope",
                                                     "x": 1},
                                                    {"device_id": "allbad-1", "metric": "y"}])
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 0, resp
    assert [r["index"] for r in resp.json["rejected"]] == [0, 1], resp
    assert shared_server.get("/api/v1/devices/allbad-1").status == 404


def test_single_invalid_reading_object_is_rejected_with_index_0(shared_server):
    resp = shared_server.post("/api/v1/telemetry", {"device_id": "single-bad", "ts": T0})
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 0 and resp.json["rejected"][0]["index"] == 0, resp
    assert shared_server.get("/api/v1/devices/single-bad").status == 404


@pytest.mark.parametrize("raw", [
    b'{"device_id":"mal-1","x":1', b"not json at all", b'[{"device_id":"mal-1","x":1},]',
    b'{"device_id":"mal-1","x":01}', b"\xff\xfe{}"])
def test_malformed_json_is_400_and_stores_nothing(shared_server, raw):
    assert_error(shared_server.post("/api/v1/telemetry", raw=raw), 400, "malformed_json")
    assert shared_server.get("/api/v1/devices/mal-1").status == 404


@pytest.mark.parametrize("body", ["just text", 12, None, {"readings": 5}])
def test_json_of_the_wrong_shape_is_422(shared_server, body):
    raw = b"null" if body is None else None
    resp = shared_server.post("/api/v1/telemetry", body, raw=raw)
    assert resp.status == 422, resp
    assert resp.is_json, resp


def test_body_over_max_body_bytes_is_413_and_stores_nothing(start_server):
    server = start_server("--max-body-bytes", "2048")
    small = [{"device_id": "size-ok", "ts": T0 + i, "v": i} for i in range(10)]
    post_ok(server, small, accepted=10)
    big = [{"device_id": "size-big", "ts": T0 + i, "v": i} for i in range(200)]
    assert_error(server.post("/api/v1/telemetry", big), 413, "payload_too_large")
    lines = "".join(f"m,device_id=size-big-lp v={i} {T0 + i}\n" for i in range(200))
    assert_error(write_lines(server, lines, "precision=ms"), 413, "payload_too_large")
    assert server.get("/api/v1/devices/size-big").status == 404
    assert server.get("/api/v1/devices/size-big-lp").status == 404
    # The server is still fine afterwards.
    post_ok(server, {"device_id": "size-ok", "ts": T0 + 100, "v": 100}, accepted=1)
    assert len(points(server, "size-ok", "v")) == 11


# -- line protocol -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/write", "/write"])
def test_line_protocol_is_204_and_names_metrics_measurement_dot_field(shared_server, path):
    device_id = "lp-" + path.strip("/").replace("/", "-")
    write_ok(shared_server,
             f"weather,device_id={device_id},site=roof temperature=21.5,humidity=40 "
             f"{T0 * 1_000_000}\n"
             f"power,device_id={device_id} volts=230.1 {(T0 + 1000) * 1_000_000}\n", path=path)
    assert latest(shared_server, device_id) == {
        "weather.temperature": (21.5, T0), "weather.humidity": (40, T0),
        "power.volts": (230.1, T0 + 1000)}
    assert points(shared_server, device_id, "weather.temperature") == [(T0, 21.5)]


@pytest.mark.parametrize("tag", ["device_id", "host", "name"])
def test_line_protocol_takes_the_device_from_device_id_host_or_name(shared_server, tag):
    device_id = f"lp-tag-{tag}"
    write_ok(shared_server, f"cpu,{tag}={device_id},region=eu usage=12.5 {T0}", "precision=ms")
    assert latest(shared_server, device_id) == {"cpu.usage": (12.5, T0)}


def test_line_protocol_prefers_device_id_over_host(shared_server):
    write_ok(shared_server, f"cpu,host=lp-host-loser,device_id=lp-winner usage=1 {T0}",
             "precision=ms")
    assert latest(shared_server, "lp-winner") == {"cpu.usage": (1, T0)}
    assert shared_server.get("/api/v1/devices/lp-host-loser").status == 404


def test_line_protocol_field_types(shared_server):
    write_ok(shared_server,
             "m,device_id=lp-types i=42i,neg=-7i,u=7u,f=1.5,e=1e3,negf=-0.25,int_as_float=3,"
             "bt=t,bT=T,btrue=true,bTrue=True,bTRUE=TRUE,bf=f,bF=F,bfalse=false,bFalse=False,"
             f'bFALSE=FALSE,s="text" {T0}', "precision=ms")
    values = {k: v for k, (v, _) in latest(shared_server, "lp-types").items()}
    assert values == {
        "m.i": 42, "m.neg": -7, "m.u": 7, "m.f": 1.5, "m.e": 1000, "m.negf": -0.25,
        "m.int_as_float": 3, "m.bt": 1, "m.bT": 1, "m.btrue": 1, "m.bTrue": 1, "m.bTRUE": 1,
        "m.bf": 0, "m.bF": 0, "m.bfalse": 0, "m.bFalse": 0, "m.bFALSE": 0}


def test_line_protocol_escaping(shared_server):
    body = (
        # measurement with an escaped space and comma; tag value with escaped comma, space and
        # equals sign; field keys with escaped space, comma and equals sign; a string field
        # holding spaces, commas, equals signs and an escaped quote.
        r'my\ room\,2,device_id=lp-esc,loc=a\,b\ c\=d temp\ c=1,k\,x=2,f\=y=3,'
        r's="a, b = \"c\" d" ' + str(T0) + "\n"
    )
    write_ok(shared_server, body, "precision=ms")
    assert latest(shared_server, "lp-esc") == {
        "my room,2.temp c": (1, T0), "my room,2.k,x": (2, T0), "my room,2.f=y": (3, T0)}


def test_line_protocol_comments_and_blank_lines_are_skipped(shared_server):
    write_ok(shared_server, f"# a comment\n\nm,device_id=lp-blank v=1 {T0}\n\n"
                            f"  \n# another\nm,device_id=lp-blank v=2 {T0 + 1}\n", "precision=ms")
    assert points(shared_server, "lp-blank", "m.v") == [(T0, 1), (T0 + 1, 2)]


def test_line_protocol_crlf_line_endings(shared_server):
    write_ok(shared_server, f"m,device_id=lp-crlf v=1 {T0}\r\nm,device_id=lp-crlf v=2 {T0 + 1}\r\n",
             "precision=ms")
    assert points(shared_server, "lp-crlf", "m.v") == [(T0, 1), (T0 + 1, 2)]


@pytest.mark.parametrize("query,stamp", [
    ("", (T0 + 7) * 1_000_000),                 # default: nanoseconds
    ("precision=ns", (T0 + 7) * 1_000_000),
    ("precision=us", (T0 + 7) * 1000),
    ("precision=ms", T0 + 7),
    ("precision=s", T0 // 1000),
])
def test_line_protocol_precision(shared_server, query, stamp):
    device_id = "lp-prec-" + (query.split("=")[1] if query else "default")
    write_ok(shared_server, f"m,device_id={device_id} v=5 {stamp}", query)
    expected = T0 if query == "precision=s" else T0 + 7
    assert points(shared_server, device_id, "m.v") == [(expected, 5)]


def test_line_protocol_without_a_timestamp_uses_server_time(shared_server):
    before = int(time.time() * 1000)
    write_ok(shared_server, "m,device_id=lp-now v=1")
    after = int(time.time() * 1000)
    ((_, ts),) = latest(shared_server, "lp-now").values()
    assert before - 50 <= ts <= after + 50


def test_line_protocol_bad_line_is_422_with_its_index_and_good_lines_are_stored(shared_server):
    body = "\n".join([
        f"m,device_id=lp-bad v=1 {T0}",             # 0 ok
        "m,device_id=lp-bad",                       # 1 no fields
        f"m,device_id=lp-bad v=2 {T0 + 1}",         # 2 ok
        f"m,device_id=lp-bad v=oops {T0 + 2}",      # 3 bad value
        f"m,device_id=lp-bad w=3 notatime",         # 4 bad timestamp
        f"m,device_id=lp-bad v=4 {T0 + 3}",         # 5 ok
    ]) + "\n"
    resp = write_lines(shared_server, body, "precision=ms")
    assert resp.status == 422, resp
    assert resp.is_json, resp
    assert resp.json["accepted"] == 3, resp
    assert [r["index"] for r in resp.json["rejected"]] == [1, 3, 4], resp
    assert all(isinstance(r["error"], str) and r["error"] for r in resp.json["rejected"]), resp
    assert latest(shared_server, "lp-bad") == {"m.v": (4, T0 + 3)}
    assert points(shared_server, "lp-bad", "m.v") == [(T0, 1), (T0 + 1, 2), (T0 + 3, 4)]


def test_line_protocol_line_without_a_device_tag_is_rejected(shared_server):
    resp = write_lines(shared_server, f"m,device_id=lp-nodev v=1 {T0}\nm,site=x v=2 {T0}\n",
                       "precision=ms")
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 1, resp
    assert [r["index"] for r in resp.json["rejected"]] == [1], resp
    assert latest(shared_server, "lp-nodev") == {"m.v": (1, T0)}


def test_line_protocol_unknown_precision_is_400(shared_server):
    assert_error(write_lines(shared_server, f"m,device_id=lp-pbad v=1 {T0}", "precision=h"), 400)
    assert shared_server.get("/api/v1/devices/lp-pbad").status == 404


# -- devices registered on the fly ---------------------------------------------------------------

def test_unknown_devices_are_registered_on_the_fly_and_become_online(server):
    post_ok(server, [{"device_id": "auto-json", "x": 1},
                     {"device_id": "auto-json-2", "metric": "y", "value": 2}])
    write_ok(server, "m,device_id=auto-lp v=1\nm,host=auto-host v=1\n")
    expected = ["auto-host", "auto-json", "auto-json-2", "auto-lp"]
    # Visibility right after the answer is checked on its own below; here: they do appear.
    wait_until(lambda: server.device_ids() == expected, timeout=3,
               message="the auto-registered devices in GET /api/v1/devices")
    for device_id in expected:
        device = server.device(device_id)
        assert device["status"] == "online", device
        assert device["last_seen"] is not None, device
    assert server.device_ids("status=online") == expected


@pytest.mark.parametrize("transport", ["json", "line-protocol"])
def test_auto_registered_device_is_visible_as_soon_as_the_write_is_acknowledged(shared_server,
                                                                                transport):
    missing = []
    for i in range(20):
        device_id = f"vis-{transport}-{i}"
        if transport == "json":
            post_ok(shared_server, {"device_id": device_id, "x": i}, accepted=1)
        else:
            write_ok(shared_server, f"m,device_id={device_id} v={i}")
        resp = shared_server.get(f"/api/v1/devices/{device_id}")
        if resp.status != 200:
            missing.append(f"{device_id}: {resp.status}")
    assert not missing, (f"{len(missing)}/20 devices not found by GET /api/v1/devices/{{id}} "
                         f"right after their telemetry was acknowledged: {missing[:5]}")


def test_telemetry_for_a_registered_device_keeps_its_registration(server):
    server.create_device("reg-1", name="Registered", type="meter", location="hall")
    post_ok(server, {"device_id": "reg-1", "ts": T0, "kwh": 12.5}, accepted=1)
    device = server.device("reg-1")
    assert (device["name"], device["type"], device["location"]) == ("Registered", "meter", "hall")
    assert device["status"] == "online"
    assert latest(server, "reg-1") == {"kwh": (12.5, T0)}
    assert server.device_ids() == ["reg-1"]
