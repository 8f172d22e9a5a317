"""MQTT 3 — device tokens and auth: tokens created (shown once), listed (never the secret) and
revoked through the API; with auth on a device connects with user name = device id and
password = its token and may publish only under its own id; the HTTP ingest endpoints accept the
same token as Bearer for that device's own data only. Each MQTT test runs for 3.1.1 and 5.0."""

import json

import pytest

from fleetpulse_harness import assert_error
from mqtt_harness import (PUBACK, V5, VERSIONS, PahoClient, RawClient, connack_code,
                          mosquitto_pub, publish_packet, start_mqtt_server)
from test_telemetry_ingest import T0, WIDE, points

ADMIN = "admin-key-for-mqtt-tests"


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    server = start_mqtt_server(module_server_factory, admin_key=ADMIN)
    for dev in ("a1", "a2", "a3", "a4"):
        assert server.post("/api/v1/devices", {"device_id": dev}).status == 201
    return server


def new_token(server, dev: str, name: str = "t") -> dict:
    resp = server.post(f"/api/v1/devices/{dev}/tokens", {"name": name})
    assert resp.status == 201, resp
    return resp.json


def test_3_1_token_is_shown_once_and_listed_without_its_secret(auth_server):
    tok = new_token(auth_server, "a1", "field unit")
    assert tok["token"].startswith("fpd_") and len(tok["token"]) > 40
    assert tok["device_id"] == "a1" and tok["name"] == "field unit" and tok["id"].startswith("tok_")
    listed = auth_server.get("/api/v1/devices/a1/tokens").json["tokens"]
    mine = [t for t in listed if t["id"] == tok["id"]]
    assert mine and "token" not in mine[0] and mine[0]["revoked"] is False
    assert tok["token"] not in auth_server.get("/api/v1/devices/a1/tokens").text


def test_3_2_tokens_of_an_unknown_device_are_404(auth_server):
    assert_error(auth_server.post("/api/v1/devices/nope/tokens", {}), 404, "not_found")
    assert_error(auth_server.get("/api/v1/devices/nope/tokens"), 404, "not_found")
    assert_error(auth_server.request("DELETE", "/api/v1/devices/a1/tokens/tok_missing"), 404)


def test_3_3_token_endpoints_need_an_operator_key(auth_server):
    tok = new_token(auth_server, "a1")
    assert_error(auth_server.post("/api/v1/devices/a1/tokens", {}, key=None), 401)
    assert_error(auth_server.get("/api/v1/devices/a1/tokens", key=tok["token"]), 401)


@pytest.mark.parametrize("version", VERSIONS)
def test_3_4_device_connects_with_its_id_and_token_and_publishes(auth_server, version):
    tok = new_token(auth_server, "a2")
    r = mosquitto_pub(auth_server.mqtt_port, version, "devices/a2/telemetry",
                      json.dumps({"ts": T0 + version, "v": version}), user="a2",
                      password=tok["token"])
    assert r.returncode == 0, r.stderr
    assert (T0 + version, version) in points(auth_server, "a2", "v")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("creds", ["wrong_password", "other_device", "no_password"])
def test_3_5_bad_credentials_are_refused_in_connack(auth_server, version, creds):
    tok = new_token(auth_server, "a1")
    kw = {"wrong_password": {"username": "a1", "password": "fpd_nope"},
          "other_device": {"username": "a2", "password": tok["token"]},
          "no_password": {}}[creds]
    raw = RawClient(auth_server.mqtt_port)
    code = connack_code(version, raw.connect(version, client_id=f"bad-{creds}", **kw))
    if creds == "no_password":
        assert code == (0x87 if version == V5 else 0x05), "not authorized"
    else:
        assert code == (0x86 if version == V5 else 0x04), "bad user name or password"
    assert raw.is_closed()


@pytest.mark.parametrize("version", VERSIONS)
def test_3_6_revoked_token_no_longer_connects(auth_server, version):
    tok = new_token(auth_server, "a3")
    PahoClient(auth_server.mqtt_port, version, username="a3", password=tok["token"]).close()
    resp = auth_server.request("DELETE", f"/api/v1/devices/a3/tokens/{tok['id']}")
    assert resp.status == 204, resp
    c = PahoClient(auth_server.mqtt_port, version, username="a3", password=tok["token"],
                   expect_rc=None)
    assert c.rc in (4, 0x86), c.rc
    listed = auth_server.get("/api/v1/devices/a3/tokens").json["tokens"]
    assert [t["revoked"] for t in listed if t["id"] == tok["id"]] == [True]


@pytest.mark.parametrize("version", VERSIONS)
def test_3_7_device_may_not_publish_under_another_id(auth_server, version):
    tok = new_token(auth_server, "a4")
    raw = RawClient(auth_server.mqtt_port)
    raw.connect(version, client_id=f"a4-{version}", username="a4", password=tok["token"])
    raw.send(publish_packet(version, "devices/a1/telemetry",
                            json.dumps({"ts": T0, "stolen": 1}).encode(), qos=1, packet_id=3))
    if version == V5:
        ack = raw.read_packet()
        assert ack[0] == PUBACK and ack[2][2] == 0x87, f"not authorized: {ack!r}"
    else:
        assert raw.is_closed(), "3.1.1 cannot refuse one message: the connection is closed"
    resp = auth_server.get(f"/api/v1/devices/a1/telemetry?metric=stolen&{WIDE}")
    assert resp.status == 404 or resp.json["points"] == [], resp


def test_3_8_operator_write_key_may_publish_for_any_device(auth_server):
    r = mosquitto_pub(auth_server.mqtt_port, 4, "devices/a1/telemetry",
                      json.dumps({"ts": T0, "gw": 1}), user="gateway", password=ADMIN)
    assert r.returncode == 0, r.stderr
    assert points(auth_server, "a1", "gw") == [(T0, 1)]


def test_3_9_http_ingest_accepts_a_device_token_for_its_own_data(auth_server):
    tok = new_token(auth_server, "a2")["token"]
    resp = auth_server.post("/api/v1/telemetry", {"ts": T0, "http_v": 3}, key=tok)
    assert resp.status == 200, resp
    assert points(auth_server, "a2", "http_v") == [(T0, 3)]
    assert auth_server.post("/api/v1/devices/a2/heartbeat", {}, key=tok).status == 200
    assert auth_server.post("/api/v1/heartbeat", {"device_id": "a2"}, key=tok).status == 200
    lp = auth_server.post("/api/v1/write?precision=ms", raw=f"m,device_id=a2 lp=1 {T0}", key=tok,
                          headers={"Content-Type": "text/plain"})
    assert lp.status == 204, lp


def test_3_10_http_device_token_cannot_write_other_devices_or_read(auth_server):
    tok = new_token(auth_server, "a2")["token"]
    resp = auth_server.post("/api/v1/telemetry", {"device_id": "a1", "ts": T0, "x": 1}, key=tok)
    assert resp.status == 422, resp
    assert_error(auth_server.post("/api/v1/devices/a1/heartbeat", {}, key=tok), 403, "forbidden")
    assert_error(auth_server.post("/api/v1/heartbeat", {"device_id": "a1"}, key=tok), 422)
    lp = auth_server.post("/api/v1/write?precision=ms", raw=f"m,device_id=a1 lp=1 {T0}", key=tok,
                          headers={"Content-Type": "text/plain"})
    assert_error(lp, 403, "forbidden")
    assert_error(auth_server.get("/api/v1/devices", key=tok), 401)
    assert_error(auth_server.get("/api/v1/devices/a2", key=tok), 401)


@pytest.mark.parametrize("version", VERSIONS)
def test_3_11_removing_a_device_revokes_its_tokens(auth_server, version):
    dev = f"gone-{version}"
    assert auth_server.post("/api/v1/devices", {"device_id": dev}).status == 201
    tok = new_token(auth_server, dev)["token"]
    PahoClient(auth_server.mqtt_port, version, username=dev, password=tok).close()
    assert auth_server.request("DELETE", f"/api/v1/devices/{dev}").status == 204
    raw = RawClient(auth_server.mqtt_port)
    code = connack_code(version, raw.connect(version, client_id=dev, username=dev, password=tok))
    assert code == (0x86 if version == V5 else 0x04)
    assert_error(auth_server.post("/api/v1/heartbeat", {"device_id": dev}, key=tok), 401)
