"""InfluxDB compatibility with real clients: @influxdata/influxdb-client (v2 API, every body
gzip-compressed, Token auth) and the `influx` npm client (v1 /write, Basic auth) write, and
what they wrote is read back; a bad line gets InfluxDB's status and error body (400,
{"code":"invalid"} / {"error"}), a partial write stores the good lines; u/p credentials; the
m and h precisions; /ping and /health as InfluxDB answers them; gzip bombs get 413 and broken
gzip 400 on every ingest route, and the server keeps serving."""

import base64
import gzip
import json

import pytest

from compat_clients import run_node
from fleetpulse_harness import assert_error, epoch_to_rfc3339, rfc3339_to_epoch

KEY = "compat-influx-key-0123456789"
T0_MS = 1767225600000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    return module_server_factory(admin_key=KEY)


def latest(server, device_id):
    resp = server.get(f"/api/v1/devices/{device_id}/latest")
    assert resp.status == 200, resp
    return {m: (v["value"], v["ts"]) for m, v in resp.json["values"].items()}


def test_influxdb_client_js_writes_gzip_bodies_with_a_token(auth_server):
    out = run_node("influx_clients.mjs", "v2", auth_server.base_url, KEY, "js-v2")
    assert "failed" not in out, out["failed"]
    assert out["ping"] == "ok" and out["health"] == {"status": "pass", "version": "2.7.0"}, out
    assert out["written"] == 3
    values = latest(auth_server, "js-v2")
    assert values["env.count"] == (2, "2026-01-01T00:00:02.000Z")
    # The bad batch: its good line is stored, the bad one named in InfluxDB's error body.
    assert values["env.temperature"] == (30, "2026-01-01T00:00:10.000Z")
    assert out["bad"]["status"] == 400 and out["bad"]["code"] == "invalid", out
    assert out["bad"]["message"].startswith("partial write: unable to parse 'env,device_id=x'")
    assert out["bad"]["message"].endswith("dropped=1")


def test_influxdb_client_js_with_a_wrong_token_is_refused(auth_server):
    out = run_node("influx_clients.mjs", "v2", auth_server.base_url, "wrong-token", "js-no")
    assert out.get("status") == 401, out
    assert auth_server.get("/api/v1/devices/js-no").status == 404


def test_node_influx_v1_writes_with_basic_auth_and_pings(auth_server):
    out = run_node("influx_clients.mjs", "v1", auth_server.base_url, "telegraf", KEY, "nodev1")
    assert "failed" not in out, out["failed"]
    assert out["ping"] == [{"online": True, "version": "2.7.0"}]
    # The batch with a point without fields: a partial write, its good point stored.
    assert out["bad"]["status"] == 400, out
    body = json.loads(out["bad"]["message"].split(" error occurred: ", 1)[1])
    assert body["error"].startswith("partial write: unable to parse 'cpu,host=nodev1'"), body
    assert body["error"].endswith("dropped=1"), body
    assert latest(auth_server, "nodev1") == {"cpu.usage": (14.5, "2026-01-01T00:02:00.000Z")}
    resp = auth_server.get("/api/v1/devices/nodev1/telemetry?metric=cpu.usage&start=0"
                           "&end=2100-01-01T00:00:00Z")
    assert [p["value"] for p in resp.json["points"]] == [12.5, 13.5, 14.5], resp
    out = run_node("influx_clients.mjs", "v1", auth_server.base_url, "telegraf", "bad", "nv1-no")
    assert out.get("status") == 401 or "401" in out.get("failed", ""), out


def test_v1_bad_line_gets_400_error_and_stores_nothing(auth_server):
    resp = auth_server.post("/write?db=telegraf", raw=b"cpu,host=v1-bad\n")
    assert resp.status == 400, resp
    assert list(resp.json) == ["error"]
    assert resp.json["error"].startswith("unable to parse 'cpu,host=v1-bad': ")
    assert auth_server.get("/api/v1/devices/v1-bad").status == 404


def test_v2_bad_line_gets_400_invalid_and_partial_writes_keep_the_good_lines(auth_server):
    resp = auth_server.post("/api/v2/write?org=o&bucket=b", raw=b"cpu,host=v2-bad\n")
    assert resp.status == 400 and resp.json["code"] == "invalid", resp
    assert resp.json["message"].startswith("unable to parse 'cpu,host=v2-bad': ")
    body = (f"cpu,host=v2-part usage=1 {T0_MS}\nnot line protocol\n"
            f"cpu,host=v2-part usage=2 {T0_MS + 1000}\n").encode()
    resp = auth_server.post("/api/v2/write?org=o&bucket=b&precision=ms", raw=body)
    assert resp.status == 400, resp
    assert resp.json == {"code": "invalid", "message": resp.json["message"]}
    assert resp.json["message"].startswith("partial write: unable to parse 'not line protocol'")
    assert latest(auth_server, "v2-part") == {"cpu.usage": (2, "2026-01-01T00:00:01.000Z")}


def test_v2_checks_precision_and_bucket_as_influxdb(auth_server):
    resp = auth_server.post("/api/v2/write?org=o&bucket=b&precision=m", raw=b"x,host=a v=1")
    assert resp.status == 400 and resp.json["code"] == "invalid", resp
    resp = auth_server.post("/api/v2/write?org=o", raw=b"x,host=a v=1")
    assert resp.status == 404 and resp.json == {"code": "not found",
                                                "message": "bucket not found"}, resp


@pytest.mark.parametrize("precision,scale_ms", [("m", 60_000), ("h", 3_600_000),
                                                ("s", 1000), ("u", 0.001)])
def test_v1_precisions_including_minutes_and_hours(auth_server, precision, scale_ms):
    device = f"prec-{precision}"
    ts = 492_000 if precision == "m" else 8_200 if precision == "h" else T0_MS // 1000
    if precision == "u":
        ts = T0_MS * 1000
    resp = auth_server.post(f"/write?db=x&precision={precision}",
                            raw=f"p,host={device} v=1 {ts}".encode())
    assert resp.status == 204, resp
    resp = auth_server.get(f"/api/v1/devices/{device}/telemetry?metric=p.v&start=0"
                           "&end=2100-01-01T00:00:00Z")
    got = round(rfc3339_to_epoch(resp.json["points"][0]["ts"]) * 1000)
    assert got == round(ts * scale_ms), resp


@pytest.mark.parametrize("route,precision,per_ms", [
    ("v2", "ns", 1_000_000), ("v2", "us", 1000), ("v2", "s", 0.001), ("v2", "ms", 1),
    ("v1", "ms", 1), ("v1", "n", 1_000_000), ("v1", "ns", 1_000_000)])
def test_explicit_timestamps_in_each_precision_are_read_back(auth_server, route, precision,
                                                             per_ms):
    device = f"ts-{route}-{precision}"
    ms = T0_MS + 1234_000 if precision == "s" else T0_MS + 1234
    path = (f"/api/v2/write?org=o&bucket=b&precision={precision}" if route == "v2"
            else f"/write?db=d&rp=autogen&precision={precision}")
    resp = auth_server.post(path, raw=f"p,host={device} v=1 {round(ms * per_ms)}".encode())
    assert resp.status == 204, resp
    assert latest(auth_server, device) == {
        "p.v": (1, epoch_to_rfc3339(ms / 1000))}


def test_v2_write_tags_update_the_device_and_stay_readable_with_the_unit(auth_server):
    body = (f'env,device_id=v2-attr,name=Roof\\ sensor,location=Roof,type=thermo,site=north '
            f'temperature=21.5,unit="celsius" {T0_MS}').encode()
    resp = auth_server.post("/api/v2/write?org=o&bucket=b&precision=ms", raw=body)
    assert resp.status == 204, resp
    d = auth_server.get("/api/v1/devices/v2-attr").json
    assert (d["name"], d["location"], d["type"]) == ("Roof sensor", "Roof", "thermo"), d
    assert d["attributes"]["tag.site"] == "north", d
    assert d["attributes"]["env.unit"] == "celsius", d
    assert latest(auth_server, "v2-attr") == {"env.temperature": (21.5,
                                                                  "2026-01-01T00:00:00.000Z")}


def test_credentials_as_token_basic_and_u_p(auth_server):
    line = b"auth,host=cred v=1"
    for path, headers in [
        ("/api/v2/write?bucket=b", {"Authorization": f"Token {KEY}"}),
        ("/write?db=d", {"Authorization": "Basic " + base64.b64encode(f"me:{KEY}".encode())
                         .decode()}),
        (f"/write?db=d&u=me&p={KEY}", {}),
    ]:
        resp = auth_server.post(path, raw=line, headers=headers, key=None)
        assert resp.status == 204, (path, resp)
    resp = auth_server.post("/write?db=d&u=me&p=nope", raw=line, key=None)
    assert resp.status == 401 and list(resp.json) == ["error"], resp
    resp = auth_server.post("/api/v2/write?bucket=b", raw=line, key=None)
    assert resp.status == 401 and resp.json["code"] == "unauthorized", resp
    # u/p is InfluxDB 1.x's form: the native API does not take it.
    resp = auth_server.get(f"/api/v1/devices?u=me&p={KEY}", key=None)
    assert_error(resp, 401)


def test_ping_and_health_as_influxdb_answers(auth_server):
    resp = auth_server.get("/ping", key=None)
    assert resp.status == 204 and resp.header("X-Influxdb-Version") == "2.7.0", resp
    assert resp.header("X-Influxdb-Build") == "OSS"
    assert auth_server.request("HEAD", "/ping", key=None).status == 204
    resp = auth_server.get("/health", key=None, headers={"User-Agent": "influxdb-client-js/1.35.0"})
    assert resp.status == 200 and resp.json["status"] == "pass", resp
    resp = auth_server.get("/health", key=None, headers={"User-Agent": "Telegraf/1.30.0"})
    assert resp.json["status"] == "pass", resp
    resp = auth_server.get("/health", key=None)
    assert resp.json["status"] == "ok", resp


BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB


@pytest.mark.parametrize("path,style", [("/api/v2/write?bucket=b", "v2"), ("/write?db=x", "v1"),
                                        ("/api/v1/telemetry", "api"), ("/ingest", "api"),
                                        ("/api/v1/write", "api")])
def test_a_gzip_bomb_gets_413_and_the_server_keeps_serving(auth_server, path, style):
    assert len(BOMB) < 200_000
    resp = auth_server.post(path, raw=BOMB, headers={"Content-Encoding": "gzip"})
    assert resp.status == 413, resp
    if style == "v2":
        assert resp.json["code"] == "request too large"
    elif style == "v1":
        assert "error" in resp.json
    else:
        assert_error(resp, 413)
    assert auth_server.get("/health").status == 200


def test_gzip_on_every_ingest_route_and_broken_gzip_is_400(auth_server):
    gz = {"Content-Encoding": "gzip"}
    resp = auth_server.post("/ingest", raw=gzip.compress(b'{"device_id":"gz-1","t":1.5}'),
                            headers=gz)
    assert resp.status == 200, resp
    resp = auth_server.post("/api/v1/telemetry",
                            raw=gzip.compress(b'{"device_id":"gz-1","u":2.5}'), headers=gz)
    assert resp.status == 200, resp
    resp = auth_server.post("/api/v1/heartbeat",
                            raw=gzip.compress(b'{"device_id":"gz-1","battery_level":50}'),
                            headers=gz)
    assert resp.status == 200, resp
    # (the heartbeat's battery_level is a series of the device too)
    assert {k: v[0] for k, v in latest(auth_server, "gz-1").items()} == {
        "t": 1.5, "u": 2.5, "battery_level": 50}
    resp = auth_server.post("/ingest", raw=gzip.compress(b'{"device_id":"gz-2","t":1}')[:-6],
                            headers=gz)
    assert_error(resp, 400)
    resp = auth_server.post("/api/v2/write?bucket=b", raw=b"not gzip at all", headers=gz)
    assert resp.status == 400 and resp.json["code"] == "invalid", resp
    resp = auth_server.post("/ingest", raw=b"{}", headers={"Content-Encoding": "br"})
    assert_error(resp, 415)


def test_query_takes_create_database_only(auth_server):
    # Telegraf's influxdb output creates its database first, with a form body.
    resp = auth_server.post("/query", raw=b'q=CREATE+DATABASE+%22telegraf%22',
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and resp.json == {"results": [{"statement_id": 0}]}, resp
    resp = auth_server.post("/query?q=create%20database%20x")
    assert resp.status == 200, resp
    resp = auth_server.post("/query?q=SELECT%20*%20FROM%20cpu")
    assert resp.status == 400 and "not served" in resp.json["error"], resp
    resp = auth_server.post("/query?q=CREATE%20DATABASE%20x", key=None)
    assert resp.status == 401 and list(resp.json) == ["error"], resp
