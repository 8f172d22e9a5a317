"""KPI history and heartbeat fields as series (issue 15): a heartbeat's battery_level and
signal_strength are telemetry series of the device (GET /devices/{id}/telemetry and PromQL),
so a device that only sends heartbeats has their trend; the server samples each device's KPIs
(every --kpi-history-interval) into the telemetry store, served by PromQL as
fleetpulse_device_{availability,uptime,response_time_ms,messages,errors,battery_level} and
rolled up by type as fleetpulse_type_*; both survive kill -9 and a restart."""

import time
import urllib.parse

from fleetpulse_harness import epoch_to_rfc3339, metric_value, wait_until

KPI_SERIES = ('{__name__=~"fleetpulse_device_(availability|uptime|response_time_ms|messages|'
              'errors|battery_level)"}')
FAST = ("--kpi-history-interval", "300ms", "--at-risk-after", "1s", "--offline-after", "2s")


def prom(server, path, **params):
    resp = server.get("/prometheus/api/v1/" + path + "?" + urllib.parse.urlencode(params))
    assert resp.status == 200, resp
    assert resp.json["status"] == "success", resp.json
    return resp.json["data"]


def matrix(server, query, start, end, step="0.1s"):
    """{frozenset(labels without __name__) | name: [(t, value)]} of a range query."""
    data = prom(server, "query_range", query=query, start=start, end=end, step=step)
    assert data["resultType"] == "matrix"
    return {r["metric"].get("__name__", "") + str(sorted(r["metric"].items())):
            [(float(t), float(v)) for t, v in r["values"]] for r in data["result"]}


def raw_points(server, query, at):
    """The raw samples of a range selector `query` (e.g. m{...}[1h]) at time `at`."""
    data = prom(server, "query", query=query, time=at)
    assert data["resultType"] == "matrix"
    return {r["metric"].get("__name__", ""): [(float(t), float(v)) for t, v in r["values"]]
            for r in data["result"]}


def test_heartbeat_battery_and_signal_are_series_of_the_device(start_server):
    server = start_server()
    server.create_device("hb-only", type="tracker", location="dock")
    t0 = int(time.time()) - 600
    sent = []
    for k in range(6):
        ts = t0 + 60 * k
        body = {"battery_level": 90 - 2 * k, "signal_strength": -60 - k, "ts": ts}
        resp = server.post("/api/v1/devices/hb-only/heartbeat", body)
        assert resp.status in (200, 201, 202), resp
        sent.append((ts, 90 - 2 * k, -60 - k))
    # The telemetry API lists both as metrics of the device, with the heartbeats' times.
    resp = server.get("/api/v1/devices/hb-only/telemetry?metric=battery_level&start="
                      + urllib.parse.quote(epoch_to_rfc3339(t0 - 1)))
    assert resp.status == 200, resp
    assert [p["value"] for p in resp.json["points"]] == [b for _, b, _ in sent], resp.json
    assert [p["ts"] for p in resp.json["points"]] == [epoch_to_rfc3339(ts) for ts, _, _ in sent]

    def check_promql():
        got = raw_points(server, 'battery_level{device_id="hb-only"}[1h]', time.time())
        assert got["battery_level"] == [(float(ts), float(b)) for ts, b, _ in sent]
        got = raw_points(server, 'signal_strength{device_id="hb-only",type="tracker"}[1h]',
                         time.time())
        assert got["signal_strength"] == [(float(ts), float(s)) for ts, _, s in sent]
    check_promql()
    # Durable like telemetry: a kill -9 right after the answers loses nothing.
    server.kill()
    server.start()
    check_promql()


def test_a_heartbeat_without_the_fields_adds_no_series(start_server):
    server = start_server()
    server.heartbeat("hb-bare")
    resp = server.get("/api/v1/devices/hb-bare/metrics")
    if resp.status == 200:
        assert "battery_level" not in str(resp.json)
    data = prom(server, "series", **{"match[]": '{device_id="hb-bare"}'})
    assert all(s["__name__"].startswith("fleetpulse_") for s in data), data


def test_kpi_history_follows_the_device_and_survives_kill_9(start_server):
    server = start_server(*FAST)
    server.create_device("kpi-1", type="meter", location="plant")
    server.create_device("kpi-2", type="meter", location="plant")
    begin = time.time()
    # kpi-1 reports for a while (with its own timestamps, so response times exist), kpi-2 never.
    sent = 0
    for _ in range(8):
        now = time.time()
        server.heartbeat("kpi-1", battery_level=77, ts=now - 0.25)
        sent += 1
        time.sleep(0.15)

    def has_history():
        got = raw_points(server, 'fleetpulse_device_messages{device_id="kpi-1"}[1h]', time.time())
        return got and sum(v for _, v in got["fleetpulse_device_messages"]) == sent
    wait_until(has_history, timeout=10, message="every heartbeat counted in the KPI history")
    # Then it goes offline (2 s): availability samples of 0 follow the samples of 100.
    def went_offline():
        got = raw_points(server, 'fleetpulse_device_availability{device_id="kpi-1"}[1h]',
                         time.time())
        vals = [v for _, v in got.get("fleetpulse_device_availability", [])]
        return 100.0 in vals and vals[-1] == 0.0
    wait_until(went_offline, timeout=15, message="availability 100 then 0")
    end = time.time()

    names = ["availability", "uptime", "response_time_ms", "messages", "errors",
             "battery_level"]
    before = {}
    for n in names:
        before[n] = raw_points(server, f'fleetpulse_device_{n}{{device_id="kpi-1"}}[1h]', end)
    for n in names:
        assert before[n].get(f"fleetpulse_device_{n}"), f"no {n} history"
    resp_ms = [v for _, v in before["response_time_ms"]["fleetpulse_device_response_time_ms"]]
    assert all(200 <= v <= 5000 for v in resp_ms), resp_ms
    assert {v for _, v in before["battery_level"]["fleetpulse_device_battery_level"]} == {77.0}
    assert {v for _, v in before["errors"]["fleetpulse_device_errors"]} == {0.0}
    # kpi-2 never reported: nothing to record, no series of its own (a registered idle device
    # costs no head series); the type roll-up counts it as never available.
    never = raw_points(server, 'fleetpulse_device_availability{device_id="kpi-2"}[1h]', end)
    assert never == {}
    typed = raw_points(server, 'fleetpulse_type_availability{type="meter"}[1h]', end)
    assert max(v for _, v in typed["fleetpulse_type_availability"]) <= 50.0
    # Labels from the catalog, and the roll-up by type.
    series = prom(server, "series", **{"match[]": 'fleetpulse_device_availability{type="meter"}'})
    assert sorted(s["device_id"] for s in series) == ["kpi-1"]
    assert all(s["location"] == "plant" for s in series)
    typed = raw_points(server, 'fleetpulse_type_devices{type="meter"}[1h]', end)
    assert {v for _, v in typed["fleetpulse_type_devices"]} == {2.0}
    typed = raw_points(server, 'fleetpulse_type_messages{type="meter"}[1h]', end)
    assert sum(v for _, v in typed["fleetpulse_type_messages"]) == sent
    # Not telemetry: the device's own series and the telemetry listing do not show it.
    assert prom(server, "series", **{"match[]": '{__name__="availability"}'}) == []

    server.kill()
    server.start()
    for n in names:
        after = raw_points(server, f'fleetpulse_device_{n}{{device_id="kpi-1"}}[1h]', end)
        key = f"fleetpulse_device_{n}"
        assert after[key] == before[n][key], n
    # And sampling goes on after the restart.
    wait_until(lambda: len(raw_points(server, 'fleetpulse_device_availability{device_id="kpi-1"}'
                                      '[1h]', time.time())["fleetpulse_device_availability"])
               > len(before["availability"]["fleetpulse_device_availability"]),
               timeout=10, message="new samples after the restart")
    # The KPI keys never became devices, in the list or after the WAL replay.
    assert sorted(server.device_ids()) == ["kpi-1", "kpi-2"]
    assert begin < end


def test_the_interval_option_is_printed_and_checked(start_server):
    import subprocess
    from fleetpulse_harness import binary_path, hermetic_env
    out = subprocess.run([str(binary_path()), "serve", "--check-config",
                          "--kpi-history-interval", "5m"], env=hermetic_env(),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert 'kpi-history-interval = "5m"' in out.stdout or "kpi-history-interval = 5m" in \
        out.stdout or "kpi-history-interval" in out.stdout and "5m" in out.stdout, out.stdout
    bad = subprocess.run([str(binary_path()), "serve", "--check-config",
                          "--kpi-history-interval", "soon"], env=hermetic_env(),
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    assert "kpi-history-interval" in bad.stderr + bad.stdout


def test_the_kpi_history_route_reads_the_same_series(start_server):
    from fleetpulse_harness import assert_error
    server = start_server(*FAST)
    server.create_device("route-1", type="pump")
    for _ in range(3):
        server.heartbeat("route-1", battery_level=64, ts=time.time() - 0.1)
        time.sleep(0.35)

    def got():
        r = server.get("/api/v1/kpis/history?device_id=route-1&kpi=availability,battery_level"
                       "&start=-1h&step=1s")
        assert r.status == 200, r
        return r.json
    wait_until(lambda: len(got()["series"]) == 2, timeout=10, message="two KPI series")
    body = got()
    by_kpi = {s["kpi"]: s for s in body["series"]}
    assert by_kpi["availability"]["device_id"] == "route-1"
    assert by_kpi["availability"]["type"] == "pump"
    assert {p["value"] for p in by_kpi["battery_level"]["points"]} == {64.0}
    # The same figures as PromQL's, averaged per step.
    now = time.time()
    raw = raw_points(server, 'fleetpulse_device_battery_level{device_id="route-1"}[1h]', now)
    assert raw["fleetpulse_device_battery_level"]
    typed = server.get("/api/v1/kpis/history?group_by=type&kpi=devices&start=-1h").json
    assert [s["type"] for s in typed["series"]] == ["pump"]
    assert {p["value"] for p in typed["series"][0]["points"]} == {1.0}
    # Bad requests name what is wrong.
    assert_error(server.get("/api/v1/kpis/history?device_id=route-1&kpi=bogus"), 400)
    assert_error(server.get("/api/v1/kpis/history?kpi=availability"), 400)
    assert_error(server.get("/api/v1/kpis/history?group_by=location"), 400)
    assert_error(server.get("/api/v1/kpis/history?device_id=route-1&step=0s"), 400)
    assert_error(server.get("/api/v1/kpis/history?device_id=route-1&start=-1h&end=-2h"), 400)
    assert_error(server.get("/api/v1/kpis/history?device_id=ghost"), 404)


def test_a_registered_device_has_no_kpi_series_until_its_first_report(start_server):
    """Idle registered devices cost no head series: the sampler writes a device's KPIs once it
    has something to record (a report, a rejection, a battery level). Its type still counts
    it, and its history starts with the sample after its first report, kept across kill -9."""
    server = start_server(*FAST)
    for i in range(20):
        server.create_device(f"idle-{i}", type="valve")
    wait_until(lambda: raw_points(server, 'fleetpulse_type_messages{type="valve"}[1h]',
                                  time.time()), timeout=10, message="two samples of the type")
    now = time.time()
    typed = raw_points(server, 'fleetpulse_type_devices{type="valve"}[1h]', now)
    assert {v for _, v in typed["fleetpulse_type_devices"]} == {20.0}
    typed = raw_points(server, 'fleetpulse_type_availability{type="valve"}[1h]', now)
    assert {v for _, v in typed["fleetpulse_type_availability"]} == {0.0}
    assert prom(server, "series", **{"match[]": KPI_SERIES}) == []
    # The sampler's own mark, the type's roll-up series and nothing per device.
    series = metric_value(server.metrics_text(), "fleetpulse_series")
    assert series is not None and series <= 8, series

    server.heartbeat("idle-3", battery_level=61)
    def recorded():
        got = raw_points(server, 'fleetpulse_device_messages{device_id="idle-3"}[1h]',
                         time.time())
        return got and sum(v for _, v in got["fleetpulse_device_messages"]) == 1
    wait_until(recorded, timeout=10, message="the first report counted in idle-3's history")
    end = time.time()
    before = raw_points(server, 'fleetpulse_device_battery_level{device_id="idle-3"}[1h]', end)
    assert {v for _, v in before["fleetpulse_device_battery_level"]} == {61.0}
    ids = {s["device_id"] for s in
           prom(server, "series", **{"match[]": KPI_SERIES})}
    assert ids == {"idle-3"}

    server.kill()
    server.start()
    after = raw_points(server, 'fleetpulse_device_battery_level{device_id="idle-3"}[1h]', end)
    assert after == before
    got = raw_points(server, 'fleetpulse_device_messages{device_id="idle-3"}[1h]', end)
    assert sum(v for _, v in got["fleetpulse_device_messages"]) == 1
    assert raw_points(server, 'fleetpulse_device_availability{device_id="idle-4"}[1h]',
                      time.time()) == {}
