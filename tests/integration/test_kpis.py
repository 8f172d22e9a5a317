"""Device and fleet KPIs against the real binary: availability cross-checked with the status
history the API returns, response time from heartbeat `ts`, throughput, error rate, battery
drain and time to empty from a backfilled series, grouping, parameter errors, and the same
figures after a restart and after a kill -9 moments after the data was acknowledged."""

import time

import pytest

from fleetpulse_harness import (assert_error, epoch_to_rfc3339, rfc3339_to_epoch, wait_until)

KPI_FIELDS = {"device_id", "window", "availability_pct", "uptime_pct", "mtbf_s", "mttr_s",
              "response_time_ms", "error_rate", "messages_per_min", "bytes_per_min",
              "status_consistency", "battery_drain_pct_per_day", "battery_empty_at",
              "messages", "bytes", "rejected", "activity_since"}


def kpis(server, device_id: str, window: str = "24h") -> dict:
    resp = server.get(f"/api/v1/devices/{device_id}/kpis?window={window}")
    assert resp.status == 200, resp
    return resp.json


def test_device_kpi_shape_response_time_throughput_and_error_rate(server):
    for _ in range(3):
        body = {"device_id": "k1", "battery_level": 80,
                "ts": epoch_to_rfc3339(time.time() - 0.25)}  # the device's clock: 250 ms behind
        resp = server.post("/api/v1/heartbeat", body)
        assert resp.status == 200, resp
    bad = server.post("/api/v1/telemetry", [{"device_id": "k1", "temp": 20},
                                            {"device_id": "k1", "temp": None}])
    assert bad.status == 422, bad
    wait_until(lambda: kpis(server, "k1")["error_rate"] is not None, 5, message="activity")
    created = rfc3339_to_epoch(server.device("k1")["created_at"])
    time.sleep(1.0)  # a period long enough for the timing of this test not to matter
    before = time.time()
    k = kpis(server, "k1")
    after = time.time()
    assert set(k) == KPI_FIELDS
    assert k["device_id"] == "k1" and k["window"] == "24h"
    assert 240 <= k["response_time_ms"]["avg"] <= 1000, k
    assert 240 <= k["response_time_ms"]["p95"] <= 1000, k
    # 3 heartbeats + 1 telemetry message accepted, 1 reading rejected.
    # Over the observed period (since the device was registered, moments ago).
    low, high = 4 / ((after - created + 0.01) / 60), 4 / ((before - created - 0.01) / 60)
    assert low <= k["messages_per_min"] <= high, (k, low, high)
    assert k["error_rate"] == 1 / 5, k
    assert k["bytes_per_min"] > 0
    assert k["availability_pct"] > 99 and k["uptime_pct"] > 99, k
    assert k["mtbf_s"] is None  # no failure yet


def test_availability_matches_the_status_history(fast_server):
    server = fast_server
    server.heartbeat("k2")
    wait_until(lambda: server.device("k2")["status"] == "offline", 6, message="offline")
    server.heartbeat("k2")
    time.sleep(0.5)
    k = kpis(server, "k2", "1h")
    now = time.time()
    transitions = server.status_history("k2")
    created = rfc3339_to_epoch(server.device("k2")["created_at"])
    # Online seconds by hand from the returned transitions.
    online = 0.0
    for i, t in enumerate(transitions):
        end = rfc3339_to_epoch(transitions[i + 1]["ts"]) if i + 1 < len(transitions) else now
        if t["to"] == "online":
            online += end - rfc3339_to_epoch(t["ts"])
    expected = 100 * online / (now - created)
    assert abs(k["availability_pct"] - expected) < 5, (k, transitions)
    assert 0 < k["availability_pct"] < 100
    assert k["uptime_pct"] > k["availability_pct"]  # at_risk counts as up
    assert k["mtbf_s"] is not None and k["mttr_s"] is not None and k["mttr_s"] > 0


def test_battery_drain_and_time_to_empty_from_a_backfilled_series(server):
    now = time.time()
    readings = [{"device_id": "k3", "metric": "battery_level", "value": v,
                 "ts": epoch_to_rfc3339(now - hours * 3600)}
                for hours, v in ((12, 100), (6, 95), (0, 90))]
    assert server.post("/api/v1/telemetry", readings).status == 200
    # The activity is recorded by the commit thread just after it answers the write.
    k = wait_until(lambda: (lambda k: k if k["battery_drain_pct_per_day"] is not None else None)(
        kpis(server, "k3")), 5, message="battery figures")
    assert abs(k["battery_drain_pct_per_day"] - 20) < 0.01, k
    empty = rfc3339_to_epoch(k["battery_empty_at"])
    assert abs(empty - (now + 4.5 * 86400)) < 60, k  # 90 % left at 20 %/day


def test_fleet_summary_grouped_by_type(server):
    server.create_device("p1", type="pump")
    server.create_device("p2", type="pump")
    server.create_device("m1", type="meter")
    for d in ("p1", "p2", "m1"):
        server.heartbeat(d)
    time.sleep(1.0)  # the milliseconds between registration and first report weigh little
    resp = server.get("/api/v1/kpis/summary?window=24h&group_by=type")
    assert resp.status == 200, resp
    body = resp.json
    assert body["window"] == "24h" and body["group_by"] == "type"
    assert body["fleet"]["devices"] == 3
    groups = {g["key"]: g for g in body["groups"]}
    assert set(groups) == {"pump", "meter"}
    assert groups["pump"]["devices"] == 2 and groups["meter"]["devices"] == 1
    assert KPI_FIELDS - {"device_id"} <= set(groups["pump"])
    assert groups["pump"]["availability_pct"] > 90  # all online but the ms before the first report
    assert server.get("/api/v1/kpis/summary").json["groups"] == []
    by_location = server.get("/api/v1/kpis/summary?group_by=location").json
    assert [g["key"] for g in by_location["groups"]] == [""]


def test_kpi_parameter_errors(server):
    server.heartbeat("k4")
    assert_error(server.get("/api/v1/devices/k4/kpis?window=soon"), 400, "invalid_parameter")
    assert_error(server.get("/api/v1/devices/nobody/kpis"), 404, "not_found")
    assert_error(server.get("/api/v1/kpis/summary?group_by=colour"), 400, "invalid_parameter")


# The figures that come from the activity log (counts and samples), not from the clock.
DURABLE_FIELDS = ("messages", "bytes", "rejected", "error_rate", "response_time_ms",
                  "battery_drain_pct_per_day", "battery_empty_at", "activity_since")


def durable_figures(server, device_id: str) -> dict:
    k = kpis(server, device_id)
    return {f: k[f] for f in DURABLE_FIELDS}


def fleet_figures(server) -> dict:
    fleet = server.get("/api/v1/kpis/summary?group_by=type").json["fleet"]
    return {f: fleet[f] for f in ("devices", "messages", "bytes", "rejected", "error_rate",
                                  "response_time_ms")}


def send_activity(server, device_id: str, rounds: int) -> None:
    now = time.time()
    for i in range(rounds):
        hb = {"device_id": device_id, "ts": epoch_to_rfc3339(now - 0.1 * (i + 1))}
        assert server.post("/api/v1/heartbeat", hb).status == 200
        batch = [{"device_id": device_id, "temp": 20 + i},
                 {"device_id": device_id, "battery_level": 95 - 5 * i,
                  "ts": epoch_to_rfc3339(now - (rounds - i) * 3600)}]
        assert server.post("/api/v1/telemetry", batch).status == 200
    bad = server.post("/api/v1/telemetry", [{"device_id": device_id, "temp": 1},
                                            {"device_id": device_id, "temp": None}])
    assert bad.status == 422, bad
    assert server.post("/api/v1/devices/%s/heartbeat" % device_id, raw="{nope").status == 400


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_kpis_are_the_same_after_a_restart(start_server, how):
    server = start_server()
    server.create_device("kd1", type="pump")
    send_activity(server, "kd1", 4)
    server.heartbeat("kd2")
    before = durable_figures(server, "kd1")
    fleet_before = fleet_figures(server)
    assert before["messages"] == 9 and before["rejected"] == 2, before
    assert before["battery_drain_pct_per_day"] is not None, before
    assert before["response_time_ms"]["avg"] is not None, before
    if how == "kill -9":
        server.kill()  # moments after the last acknowledged write
    else:
        assert server.stop() == 0
    server.start()
    assert durable_figures(server, "kd1") == before
    assert fleet_figures(server) == fleet_before
    # And it keeps counting on top of what it had.
    server.heartbeat("kd1")
    assert kpis(server, "kd1")["messages"] == before["messages"] + 1


def test_kpis_survive_several_kills_and_a_deleted_device_stays_forgotten(start_server):
    server = start_server()
    for round_ in range(3):
        send_activity(server, "kd3", 2)
        server.heartbeat("kd4")
        server.kill()
        server.start()
        assert kpis(server, "kd3")["messages"] == 5 * (round_ + 1)
    assert server.delete("/api/v1/devices/kd4").status == 204
    server.kill()
    server.start()
    server.heartbeat("kd4")  # registered afresh: its old activity is gone
    assert kpis(server, "kd4")["messages"] == 1


def test_a_window_longer_than_the_activity_kept_says_what_it_covers(server):
    server.heartbeat("kd5")
    k = kpis(server, "kd5", "7d")
    created = rfc3339_to_epoch(server.device("kd5")["created_at"])
    # Counts cover at most the last 25 hours; for a new device, its whole life.
    assert abs(rfc3339_to_epoch(k["activity_since"]) - created) < 1, k
    assert k["messages"] == 1
