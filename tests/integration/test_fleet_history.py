"""The overview's 24 h history (GET /api/v1/stats/history): the server samples the ingest rate,
devices by status and open alerts on its own (every --fleet-history-interval), the samples
follow what happened, survive kill -9 and a restart, can be narrowed by start/end, and bad
bounds get a 400 in the error shape."""

from fleetpulse_harness import assert_error, rfc3339_to_epoch, wait_until

FAST = ("--fleet-history-interval", "200ms", "--at-risk-after", "1s", "--offline-after", "2s")


def samples(server, query=""):
    resp = server.get("/api/v1/stats/history" + query)
    assert resp.status == 200, resp
    return resp.json["samples"]


def test_samples_follow_the_fleet_without_any_page_open(start_server):
    server = start_server(*FAST)
    wait_until(lambda: len(samples(server)) >= 2, timeout=10, message="first samples")
    first = samples(server)[-1]
    assert first["devices"] == {"online": 0, "at_risk": 0, "offline": 0, "unknown": 0,
                                "total": 0}
    assert first["open_alerts"] == 0

    for i in range(3):
        server.heartbeat(f"hist-{i}", battery_level=80)
    server.post("/api/v1/alerts", {"device_id": "hist-0", "severity": "warning",
                                   "message": "by hand"})
    readings = [{"device_id": "hist-1", "pressure": 1000 + k} for k in range(400)]
    assert server.post("/api/v1/telemetry", readings).status == 200

    def seen():
        s = samples(server)[-1]
        return s["devices"]["online"] == 3 and s["open_alerts"] == 1
    wait_until(seen, timeout=10, message="a sample with 3 online devices and 1 open alert")
    # The burst of 400 points shows up as a rate in some sample after it (200 ms apart).
    assert max(s["ingest_rate_per_s"] for s in samples(server)) > 100
    # Then they go offline: later samples say so, without anyone asking in between.
    wait_until(lambda: samples(server)[-1]["devices"]["offline"] == 3, timeout=10,
               message="a sample with the 3 devices offline")
    got = samples(server)
    times = [rfc3339_to_epoch(s["ts"]) for s in got]
    assert times == sorted(times)
    assert all(s["devices"]["total"] == sum(s["devices"][k] for k in
               ("online", "at_risk", "offline", "unknown")) for s in got)


def test_samples_survive_kill_9_and_a_restart(start_server):
    server = start_server(*FAST)
    server.heartbeat("hist-crash", battery_level=50)
    wait_until(lambda: any(s["devices"]["online"] == 1 for s in samples(server)), timeout=10,
               message="a sample with the device online")
    before = samples(server)
    server.kill()
    server.start()
    after = samples(server)
    # Every sample served before the crash is still there, unchanged and in order.
    assert after[:len(before)] == before
    server.stop()
    server.start()
    assert samples(server)[:len(before)] == before


def test_start_and_end_narrow_the_samples(start_server):
    server = start_server(*FAST)
    wait_until(lambda: len(samples(server)) >= 6, timeout=10, message="six samples")
    got = samples(server)
    middle = got[2:4]
    narrowed = samples(server, f"?start={middle[0]['ts']}&end={middle[-1]['ts']}")
    assert narrowed == middle
    assert samples(server, "?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z") == []


def test_bad_bounds_get_a_400(shared_server):
    assert_error(shared_server.get("/api/v1/stats/history?start=yesterday"), 400)
    assert_error(shared_server.get("/api/v1/stats/history?start=-1h&end=-2h"), 400,
                 "invalid_parameter")


def test_the_default_interval_is_a_minute(shared_server):
    resp = shared_server.get("/api/v1/stats/history")
    assert resp.status == 200
    assert resp.json["interval"] == "1m"
    # One sample is taken when the server starts.
    assert len(resp.json["samples"]) >= 1
