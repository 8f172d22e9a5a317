"""Heartbeat ingest and device status: validation, auto-registration, the online / at_risk /
offline state machine (evaluated continuously, not only on requests), per-type thresholds and
the status history."""

import time

import pytest

from fleetpulse_harness import (RFC3339_MS_UTC, assert_error, epoch_to_rfc3339, metric_value,
                                rfc3339_to_epoch, wait_until)

# -- the heartbeat answer ----------------------------------------------------------------------

def test_heartbeat_answers_device_id_status_and_last_seen(server):
    before = time.time()
    status, headers, body = server.post("/api/v1/heartbeat", {"device_id": "hb-1",
                                                              "battery_level": 80})
    after = time.time()
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert {"device_id", "status", "last_seen"} <= set(body)
    assert body["device_id"] == "hb-1"
    assert body["status"] == "online"
    assert RFC3339_MS_UTC.match(body["last_seen"]), body
    assert before - 1 <= rfc3339_to_epoch(body["last_seen"]) <= after + 1


def test_heartbeat_auto_registers_an_unknown_device(server):
    server.heartbeat("newcomer", name="New Kid", battery_level=64.5, signal_strength=-71)
    device = server.device("newcomer")
    assert device["name"] == "New Kid"
    assert device["status"] == "online"
    assert device["battery_level"] == 64.5
    assert device["signal_strength"] == -71
    assert RFC3339_MS_UTC.match(device["last_seen"]), device
    assert "newcomer" in server.device_ids()


def test_heartbeat_without_battery_makes_a_device_online(server):
    assert server.heartbeat("no-battery")["status"] == "online"
    assert server.device("no-battery")["battery_level"] is None


def test_heartbeat_updates_a_registered_device(server):
    server.create_device("known", type="meter", metadata={"keep": 1})
    server.heartbeat("known", battery_level=55, signal_strength=-90)
    device = server.device("known")
    assert device["status"] == "online"
    assert device["battery_level"] == 55
    assert device["signal_strength"] == -90
    assert device["type"] == "meter"
    assert device["metadata"] == {"keep": 1}


def test_later_heartbeat_moves_last_seen_forward_and_replaces_values(server):
    first = server.heartbeat("ticker", battery_level=90)
    time.sleep(0.01)
    second = server.heartbeat("ticker", battery_level=89)
    assert rfc3339_to_epoch(second["last_seen"]) > rfc3339_to_epoch(first["last_seen"])
    assert server.device("ticker")["battery_level"] == 89


# -- the per-device endpoint -------------------------------------------------------------------

def test_device_heartbeat_endpoint_accepts_an_empty_body(server):
    status, _, body = server.post("/api/v1/devices/empty-body/heartbeat")
    assert status == 200, body
    assert body["device_id"] == "empty-body"
    assert body["status"] == "online"
    assert server.device("empty-body")["status"] == "online"


def test_device_heartbeat_endpoint_accepts_an_empty_object(server):
    resp = server.post("/api/v1/devices/empty-obj/heartbeat", {})
    assert resp.status == 200, resp
    assert resp.json["device_id"] == "empty-obj"


def test_device_heartbeat_endpoint_takes_values_from_the_body(server):
    resp = server.post("/api/v1/devices/pathy/heartbeat",
                       {"battery_level": 42, "signal_strength": -101.5})
    assert resp.status == 200, resp
    device = server.device("pathy")
    assert device["battery_level"] == 42
    assert device["signal_strength"] == -101.5


def test_device_heartbeat_endpoint_validates_values(server):
    error = assert_error(server.post("/api/v1/devices/pathy/heartbeat", {"battery_level": 101}),
                         422, "validation_failed")
    assert "battery_level" in error["message"]


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-0.1, 100.01, 250, "50", True, [50], {"v": 50}])
def test_heartbeat_rejects_battery_level_outside_0_to_100_or_not_a_number(shared_server, value):
    resp = shared_server.post("/api/v1/heartbeat", {"device_id": "b", "battery_level": value})
    error = assert_error(resp, 422, "validation_failed")
    assert "battery_level" in error["message"], error
    assert shared_server.get("/api/v1/devices/b").status == 404, "rejected heartbeat registered it"


@pytest.mark.parametrize("value", [0, 100, 0.0, 99.99])
def test_heartbeat_accepts_battery_level_at_the_bounds(server, value):
    resp = server.post("/api/v1/heartbeat", {"device_id": "b", "battery_level": value})
    assert resp.status == 200, resp
    assert server.device("b")["battery_level"] == value


@pytest.mark.parametrize("value", [0.5, 1, 30, -150.5, -1000, "-70", False])
def test_heartbeat_rejects_signal_strength_outside_minus_150_to_0_dbm(shared_server, value):
    error = assert_error(
        shared_server.post("/api/v1/heartbeat", {"device_id": "s", "signal_strength": value}),
        422, "validation_failed")
    assert "signal_strength" in error["message"], error


@pytest.mark.parametrize("value", [0, -150, -67.25])
def test_heartbeat_accepts_signal_strength_at_the_bounds(server, value):
    resp = server.post("/api/v1/heartbeat", {"device_id": "s", "signal_strength": value})
    assert resp.status == 200, resp
    assert server.device("s")["signal_strength"] == value


def test_rejected_heartbeat_leaves_the_previous_values(server):
    server.heartbeat("steady", battery_level=70, signal_strength=-60)
    server.post("/api/v1/heartbeat", {"device_id": "steady", "battery_level": 170})
    device = server.device("steady")
    assert device["battery_level"] == 70
    assert device["signal_strength"] == -60


@pytest.mark.parametrize("body", [{}, {"battery_level": 50}, {"device_id": None},
                                  {"device_id": 7}, {"device_id": ""},
                                  {"device_id": "bad id"},
                                  pytest.param({"device_id": "x" * 129}, id="129-chars")])
def test_heartbeat_rejects_a_missing_or_invalid_device_id(shared_server, body):
    assert_error(shared_server.post("/api/v1/heartbeat", body), 422, "validation_failed")


def test_heartbeat_accepts_a_location_string(server):
    server.heartbeat("walker", location="dock-3")
    assert server.device("walker")["location"] == "dock-3"


def test_heartbeat_accepts_a_lat_lon_location(server):
    resp = server.post("/api/v1/heartbeat", {"device_id": "gps", "location": {"lat": 52.37,
                                                                               "lon": 4.89}})
    assert resp.status == 200, resp
    assert server.device("gps")["status"] == "online"


@pytest.mark.parametrize("location", [5, ["a"], {"lat": 52.0}, {"lat": "north", "lon": 4.0}])
def test_heartbeat_rejects_a_location_of_the_wrong_shape(shared_server, location):
    resp = shared_server.post("/api/v1/heartbeat", {"device_id": "l", "location": location})
    error = assert_error(resp, 422, "validation_failed")
    assert "location" in error["message"] or "lat" in error["message"] \
        or "lon" in error["message"], error


# last_seen is the server's receive time, not the device's clock: a device whose clock is off
# must not look offline (or seen in the future) because of it.

@pytest.mark.parametrize("device_ts", [
    pytest.param(lambda now: epoch_to_rfc3339(now - 3600), id="rfc3339-an-hour-behind"),
    pytest.param(lambda now: int((now - 3600) * 1000), id="epoch-ms-an-hour-behind"),
    pytest.param(lambda now: epoch_to_rfc3339(now + 86400), id="rfc3339-a-day-ahead"),
])
def test_heartbeat_with_a_skewed_device_ts_is_seen_at_receive_time(server, device_ts):
    before = time.time()
    body = server.heartbeat("skewed", ts=device_ts(before), battery_level=90)
    after = time.time()
    assert body["status"] == "online"
    seen = rfc3339_to_epoch(body["last_seen"])
    assert before - 1 <= seen <= after + 1, body
    device = server.device("skewed")
    assert device["status"] == "online"
    assert device["last_seen"] == body["last_seen"]


def test_heartbeat_accepts_timestamp_as_an_alias_of_ts(server):
    resp = server.post("/api/v1/heartbeat", {"device_id": "alias",
                                             "timestamp": epoch_to_rfc3339(time.time())})
    assert resp.status == 200, resp


@pytest.mark.parametrize("ts", ["yesterday", "2026-13-45T99:00:00Z", True, {"t": 1}])
def test_heartbeat_rejects_an_unparsable_ts(shared_server, ts):
    error = assert_error(shared_server.post("/api/v1/heartbeat", {"device_id": "t", "ts": ts}), 422,
                         "validation_failed")
    assert "ts" in error["message"], error


# -- auto-registration off ---------------------------------------------------------------------

def test_auto_register_off_refuses_heartbeats_from_unknown_devices(start_server):
    server = start_server("--auto-register", "off")
    assert_error(server.post("/api/v1/heartbeat", {"device_id": "stranger"}), 404, "not_found")
    assert_error(server.post("/api/v1/devices/stranger/heartbeat"), 404, "not_found")
    assert server.get("/api/v1/devices/stranger").status == 404
    assert server.get("/api/v1/stats").json["devices"]["total"] == 0


def test_auto_register_off_still_accepts_registered_devices(start_server):
    server = start_server("--auto-register", "off")
    server.create_device("member")
    assert server.heartbeat("member", battery_level=60)["status"] == "online"
    assert server.post("/api/v1/devices/member/heartbeat").status == 200


# -- battery-driven status ---------------------------------------------------------------------

def test_low_battery_makes_a_reporting_device_at_risk(server):
    body = server.heartbeat("weak", battery_level=19.9)
    assert body["status"] == "at_risk"
    device = server.device("weak")
    assert device["status"] == "at_risk"
    assert isinstance(device["status_reason"], str) and device["status_reason"], device
    assert server.device_ids("status=at_risk") == ["weak"]


def test_battery_exactly_at_the_threshold_is_online(server):
    assert server.heartbeat("edge", battery_level=20)["status"] == "online"


def test_recharged_device_returns_to_online(server):
    assert server.heartbeat("charger", battery_level=5)["status"] == "at_risk"
    assert server.heartbeat("charger", battery_level=95)["status"] == "online"


def test_low_battery_flag_raises_the_threshold(start_server):
    server = start_server("--low-battery", "50")
    assert server.heartbeat("a", battery_level=49)["status"] == "at_risk"
    assert server.heartbeat("b", battery_level=50)["status"] == "online"


# -- status history ----------------------------------------------------------------------------

def test_status_history_starts_with_unknown_to_online(server):
    server.heartbeat("hist", battery_level=90)
    transitions = server.status_history("hist")
    assert len(transitions) == 1, transitions
    first = transitions[0]
    assert {"from", "to", "reason", "ts"} <= set(first)
    assert (first["from"], first["to"]) == ("unknown", "online")
    assert isinstance(first["reason"], str)
    assert RFC3339_MS_UTC.match(first["ts"])


def test_status_history_lists_transitions_oldest_first(server):
    server.heartbeat("swing", battery_level=90)
    server.heartbeat("swing", battery_level=85)  # no change, no transition
    server.heartbeat("swing", battery_level=10)
    server.heartbeat("swing", battery_level=12)  # still at_risk
    server.heartbeat("swing", battery_level=99)
    transitions = server.status_history("swing")
    assert [(t["from"], t["to"]) for t in transitions] == [
        ("unknown", "online"), ("online", "at_risk"), ("at_risk", "online")]
    times = [rfc3339_to_epoch(t["ts"]) for t in transitions]
    assert times == sorted(times)


def test_status_history_of_a_registered_silent_device_is_empty(server):
    server.create_device("mute")
    assert server.status_history("mute") == []


def test_status_history_of_an_unknown_device_is_not_found(shared_server):
    assert_error(shared_server.get("/api/v1/devices/ghost/status-history"), 404, "not_found")


# -- time-driven status (fast thresholds: at_risk after 1 s, offline after 2 s) ----------------

@pytest.mark.slow
def test_silent_device_goes_at_risk_then_offline_without_any_request(fast_server):
    hb = fast_server.heartbeat("fading", battery_level=90)
    assert hb["status"] == "online"
    last_seen = rfc3339_to_epoch(hb["last_seen"])
    # Deliberately silent: nothing may reach the server while the thresholds pass, so the
    # transition times prove the server re-evaluates on its own rather than on the next request.
    time.sleep(4.0)
    transitions = fast_server.status_history("fading")
    assert [(t["from"], t["to"]) for t in transitions] == [
        ("unknown", "online"), ("online", "at_risk"), ("at_risk", "offline")], transitions
    at_risk_at = rfc3339_to_epoch(transitions[1]["ts"])
    offline_at = rfc3339_to_epoch(transitions[2]["ts"])
    assert last_seen + 0.9 <= at_risk_at <= last_seen + 2.5, transitions
    assert last_seen + 1.9 <= offline_at <= last_seen + 3.5, transitions
    assert fast_server.device("fading")["status"] == "offline"


@pytest.mark.slow
def test_offline_device_is_listed_by_the_offline_filter_and_counted(fast_server):
    fast_server.heartbeat("gone-quiet", battery_level=90)
    fast_server.create_device("never-seen")
    wait_until(lambda: fast_server.device_ids("status=offline") == ["gone-quiet"], timeout=8,
               interval=0.2, message="gone-quiet offline")
    devices = fast_server.get("/api/v1/stats").json["devices"]
    assert devices["offline"] == 1
    text = fast_server.metrics_text()
    assert metric_value(text, "fleetpulse_devices", status="offline") == 1
    assert metric_value(text, "fleetpulse_devices", status="online") == 0
    assert devices["online"] == 0
    assert devices["unknown"] == 1
    assert fast_server.device_ids("status=online") == []


@pytest.mark.slow
def test_device_passes_through_at_risk_before_offline(fast_server):
    fast_server.heartbeat("stepper", battery_level=90)
    wait_until(lambda: fast_server.device("stepper")["status"] == "at_risk", timeout=5,
               interval=0.1, message="stepper at_risk")
    wait_until(lambda: fast_server.device("stepper")["status"] == "offline", timeout=5,
               interval=0.1, message="stepper offline")


@pytest.mark.slow
def test_heartbeat_brings_an_offline_device_back_online(fast_server):
    fast_server.heartbeat("lazarus", battery_level=90)
    wait_until(lambda: fast_server.device("lazarus")["status"] == "offline", timeout=8,
               interval=0.2, message="lazarus offline")
    assert fast_server.heartbeat("lazarus", battery_level=90)["status"] == "online"
    transitions = fast_server.status_history("lazarus")
    assert (transitions[-1]["from"], transitions[-1]["to"]) == ("offline", "online")


@pytest.mark.slow
def test_regular_heartbeats_keep_a_device_online(fast_server):
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert fast_server.heartbeat("chatty", battery_level=90)["status"] == "online"
        time.sleep(0.3)
    assert fast_server.device("chatty")["status"] == "online"
    assert [(t["from"], t["to"]) for t in fast_server.status_history("chatty")] == [
        ("unknown", "online")]


@pytest.mark.slow
def test_offline_outranks_low_battery(fast_server):
    assert fast_server.heartbeat("flat", battery_level=5)["status"] == "at_risk"
    wait_until(lambda: fast_server.device("flat")["status"] == "offline", timeout=8,
               interval=0.2, message="low-battery device offline after 2 s")


@pytest.mark.slow
def test_changing_the_type_applies_that_types_thresholds(start_server):
    server = start_server(config_text=(
        '[device_types.camera]\nat_risk_after = "1s"\noffline_after = "2s"\n'))
    server.create_device("retyped", type="sensor")
    server.heartbeat("retyped", battery_level=90)
    assert server.patch("/api/v1/devices/retyped", {"type": "camera"}).status == 200
    wait_until(lambda: server.device("retyped")["status"] == "offline", timeout=8,
               interval=0.2, message="device offline under its new type's 2 s threshold")


def test_a_burst_of_heartbeats_does_not_make_the_device_look_late(server):
    # A device flushing queued heartbeats after a reconnect sends several in quick succession.
    # With the default 2 min at_risk_after it must stay online through a short silence.
    for _ in range(8):
        assert server.heartbeat("bursty", battery_level=90)["status"] == "online"
        time.sleep(0.02)
    time.sleep(0.5)
    device = server.device("bursty")
    assert device["status"] == "online", device
    assert [(t["from"], t["to"]) for t in server.status_history("bursty")] == [
        ("unknown", "online")]


@pytest.mark.slow
def test_device_type_thresholds_from_the_config_file_override_the_global_ones(start_server):
    server = start_server(config_text=(
        '[device_types.camera]\n'
        'at_risk_after = "1s"\n'
        'offline_after = "2s"\n'
        'low_battery = 50\n'))
    server.create_device("cam-1", type="camera")
    server.create_device("cam-2", type="camera")
    server.create_device("sensor-1", type="sensor")
    assert server.heartbeat("cam-1", battery_level=90)["status"] == "online"
    assert server.heartbeat("cam-2", battery_level=40)["status"] == "at_risk"
    assert server.heartbeat("sensor-1", battery_level=40)["status"] == "online"
    wait_until(lambda: server.device_ids("status=offline") == ["cam-1", "cam-2"], timeout=8,
               interval=0.2, message="both cameras offline after their type's 2 s")
    assert server.device("sensor-1")["status"] == "online"
