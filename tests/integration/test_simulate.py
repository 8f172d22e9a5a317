"""`fleetpulse simulate` against the real server: what its summary says it sent and had
acknowledged is what the server stored (devices, points per metric, rejected readings), the
same seed gives the same fleet and the same data, auth is honoured, and bad options or an
unreachable server give a clear error and a non-zero exit code."""

import json
import subprocess

from fleetpulse_harness import binary_path, hermetic_env, run_cli, urlquote

WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
HISTORY_END = "2026-06-01T12:00:00Z"


def simulate(server, *args, tmp_path, key=None, timeout=90):
    """Runs the simulator against `server`; returns (completed process, parsed JSON summary)."""
    summary = tmp_path / f"summary-{len(list(tmp_path.glob('summary-*')))}.json"
    cmd = [str(binary_path()), "simulate", "--target", server.base_url, "--no-progress",
           "--json-summary", str(summary), *args]
    if key:
        cmd += ["--api-key", key]
    proc = subprocess.run(cmd, env=hermetic_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    data = json.loads(summary.read_text()) if summary.exists() else None
    return proc, data


def all_devices(server, prefix):
    devices, cursor = [], None
    while True:
        path = f"/api/v1/devices?limit=1000&q={urlquote(prefix)}"
        if cursor:
            path += f"&cursor={urlquote(cursor)}"
        status, _, body = server.get(path)
        assert status == 200, body
        devices += [d for d in body["devices"] if d["device_id"].startswith(prefix + "-")]
        cursor = body["next_cursor"]
        if not cursor:
            return devices


def stored_count(server, metric):
    """Points of `metric` stored for the whole fleet, from the fleet aggregates endpoint."""
    status, _, body = server.get(f"/api/v1/aggregates?metric={metric}&interval=1000d&agg=count&"
                                 f"{WIDE}")
    assert status == 200, body
    return sum(b["count"] for g in body["groups"] for b in g["buckets"])


def test_summary_matches_what_the_server_stored(server, tmp_path):
    proc, s = simulate(server, "--devices", "40", "--history", "2h", "--history-step", "5m",
                       "--duration", "3s", "--rate", "80", "--invalid", "0.02", "--seed", "11",
                       "--dropouts", "600", "--dropout-max", "2s", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "acknowledged:" in proc.stdout and "latency:" in proc.stdout

    assert s["devices"] == 40 and s["devices_registered"] == 40
    assert s["requests_failed"] == 0
    if s["batteries_died"] == 0:
        assert s["history_readings"] == 40 * 24  # 2h in 5m steps
    else:
        assert s["history_readings"] < 40 * 24
    assert s["readings_sent"] > s["history_readings"], "the live phase sent nothing"
    assert s["heartbeats_sent"] > 0 and s["heartbeats_accepted"] == s["heartbeats_sent"]
    assert s["invalid_injected"] > 0
    assert s["readings_rejected"] == s["invalid_injected"]
    assert s["readings_accepted"] + s["readings_rejected"] == s["readings_sent"]
    assert s["points_accepted"] == sum(s["points_by_metric"].values())
    assert s["dropouts"] > 0 and s["late_readings"] > 0
    assert 3 <= s["live_seconds"] < 15 and s["history_seconds"] > 0
    assert s["points_per_s"] > 0
    assert s["latency_ms"]["p50"] > 0 and s["latency_ms"]["p99"] >= s["latency_ms"]["p50"]

    devices = all_devices(server, "sim")
    assert len(devices) == 40
    by_type = {}
    for d in devices:
        by_type[d["type"]] = by_type.get(d["type"], 0) + 1
        assert d["location"] and d["status"] in ("online", "at_risk")
    assert by_type == s["devices_by_type"]

    status, _, stats = server.get("/api/v1/stats")
    # The store also holds the heartbeats' battery and signal (series of the devices) and any
    # KPI history sampled meanwhile: counted from the server by PromQL.
    def stored(expr):
        st, _, body = server.get("/prometheus/api/v1/query?query=" + urlquote(expr))
        assert st == 200, body
        return sum(float(r["value"][1]) for r in body["data"]["result"])
    by_metric = s["points_by_metric"]
    from_heartbeats = sum(stored(f"sum(count_over_time({m}[1d]))") - by_metric.get(m, 0)
                          for m in ("battery_level", "signal_strength"))
    kpis = sum(stored(f"sum(count_over_time(fleetpulse_{owner}_{k}[1d]))")
               for owner in ("device", "type") for k in (
                   "availability", "uptime", "response_time_ms", "messages", "errors",
                   "battery_level", "devices"))
    # A simulated heartbeat carries the time of the reading sent just before it, usually to the
    # millisecond, and a point at a time the series already holds is the same point: most
    # heartbeat values land on a reading's. Fewer than the readings' would be lost points.
    assert from_heartbeats >= 0
    # Each KPI sample also stores, out of PromQL's sight, a mark and at most two counters per
    # device (what the next sample counts from, src/kpi/kpi_history.h).
    samples = stored("max(count_over_time(fleetpulse_type_devices[1d]))")
    internal = stats["points_stored"] - (s["points_accepted"] + from_heartbeats + kpis)
    assert 0 <= internal <= samples * (1 + 2 * 40), (internal, samples)
    # (signal_strength also holds the heartbeats' readings, counted above)
    for metric in ("temperature", "lat"):
        assert stored_count(server, metric) == s["points_by_metric"][metric], metric


def test_same_seed_same_fleet_and_data(start_server, tmp_path):
    args = ("--devices", "25", "--history", "1h", "--history-step", "10m", "--history-end",
            HISTORY_END, "--duration", "0", "--seed", "7")
    a, b, c = start_server(), start_server(), start_server()
    pa, sa = simulate(a, *args, tmp_path=tmp_path)
    pb, sb = simulate(b, *args, tmp_path=tmp_path)
    pc, sc = simulate(c, *args[:-1], "8", tmp_path=tmp_path)
    for p in (pa, pb, pc):
        assert p.returncode == 0, p.stderr + p.stdout

    def fleet(server):
        return sorted((d["device_id"], d["type"], d["location"]) for d in all_devices(server, "sim"))

    assert fleet(a) == fleet(b)
    assert fleet(a) != fleet(c)
    assert sa["points_by_metric"] == sb["points_by_metric"]
    assert sa["history_readings"] == 25 * 6

    def series(server, device_id, metric):
        status, _, body = server.get(f"/api/v1/devices/{device_id}/telemetry?metric={metric}&"
                                     f"{WIDE}&limit=1000")
        assert status == 200, body
        return [(p["ts"], p["value"]) for p in body["points"]]

    sample = fleet(a)[:5]
    for device_id, _, _ in sample:
        status, _, latest = a.get(f"/api/v1/devices/{device_id}/latest")
        metrics = sorted(latest["values"])
        assert metrics, latest
        for metric in metrics:
            pts = series(a, device_id, metric)
            assert len(pts) == 6 and pts[-1][0] == "2026-06-01T12:00:00.000Z"
            assert pts == series(b, device_id, metric), (device_id, metric)


def test_auth_needs_a_key(start_server, tmp_path):
    server = start_server(admin_key="admin-key-for-simulate-test")
    proc, s = simulate(server, "--devices", "3", "--duration", "0", "--history", "10m",
                       tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "401" in proc.stderr
    proc, s = simulate(server, "--devices", "3", "--duration", "0", "--history", "10m",
                       key="admin-key-for-simulate-test", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert s["points_accepted"] > 0 and s["requests_failed"] == 0


def test_unreachable_server_and_bad_options():
    proc = run_cli(["simulate", "--target", "http://127.0.0.1:1", "--devices", "2",
                    "--duration", "1s", "--no-progress"])
    assert proc.returncode == 1
    assert "cannot register devices" in proc.stderr and "connect" in proc.stderr
    for args, text in ((["--target", "https://x:1"], "--target"),
                       (["--rate", "fast"], "--rate"),
                       (["--duration", "soon"], "--duration"),
                       (["--devices", "0"], "--devices"),
                       (["--history", "2h", "--history-step", "10ms"], "--history-step")):
        proc = run_cli(["simulate", *args])
        assert proc.returncode == 2, (args, proc.stderr)
        assert text in proc.stderr, (args, proc.stderr)


def test_simulated_heartbeats_carry_their_time_so_devices_get_a_response_time(start_server,
                                                                              tmp_path):
    """A heartbeat's `ts` is the device's clock when it sent it; the server's response time
    KPI is receive time minus it. Without it simulated devices had none ("–" everywhere)."""
    server = start_server()
    proc, s = simulate(server, "--devices", "6", "--duration", "3s", "--rate", "12",
                       "--heartbeat-interval", "1s", "--seed", "3", "--dropouts", "0",
                       "--prefix", "rt", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert s["heartbeats_accepted"] >= 6, s
    devices = all_devices(server, "rt")
    assert len(devices) == 6
    for d in devices:
        status, _, k = server.get(f"/api/v1/devices/{d['device_id']}/kpis?window=1h")
        assert status == 200, k
        avg = k["response_time_ms"]["avg"]
        # Sent and received on one machine: a response time, small but not negative.
        assert avg is not None and 0 <= avg < 5000, (d["device_id"], k)
