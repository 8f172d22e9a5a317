"""Starts what the browser tests need and runs them: a fleetpulse server (at risk after 3 s,
offline after 6 s) fed by `fleetpulse simulate` (history plus a live fleet for the whole
run), a few devices that went offline, a second server with auth on, then
`node --test` on SUITES driving Debian's Chromium (the dashboard's views, alerts raised,
acknowledged and resolved from the page, rules created and edited, the maps, exports, themes,
keyboard use, heartbeat-only devices and every view at 1440 and 390 px), and a third server
without KPI history for the empty states.
Screenshots go to $FLEETPULSE_E2E_ARTIFACTS (the build directory's e2e-artifacts when run by
ctest)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from fleetpulse_harness import (FleetpulseServer, REPO_ROOT, binary_path,  # noqa: E402
                                hermetic_env, wait_until)

ARTIFACTS = Path(os.environ.get("FLEETPULSE_E2E_ARTIFACTS", REPO_ROOT / "build" / "e2e-artifacts"))
ADMIN_KEY = "e2e-admin-key-0123456789"
SUITES = ["dashboard.test.mjs", "alerts.test.mjs", "map.test.mjs", "export.test.mjs",
          "views.test.mjs", "kpi_empty.test.mjs", "cluster_single.test.mjs"]
TESTS = 30  # test() calls in SUITES: all must run and pass


def start(tmp_path, name, *args, admin_key=None):
    data = tmp_path / f"data-{name}"
    data.mkdir()
    server = FleetpulseServer(data_dir=data, log_path=ARTIFACTS / f"server-{name}.log",
                              extra_args=args, admin_key=admin_key)
    return server.start()


def simulate(server, *args, key=None, background=False):
    cmd = [str(binary_path()), "simulate", "--target", server.base_url, "--no-progress", *args]
    if key:
        cmd += ["--api-key", key]
    if background:
        return subprocess.Popen(cmd, env=hermetic_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.run(cmd, env=hermetic_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_dashboard_in_chromium(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = start(tmp_path, "main", "--at-risk-after", "3s", "--offline-after", "6s",
                   "--fleet-history-interval", "2s", "--kpi-history-interval", "2s")
    auth_server = start(tmp_path, "auth", admin_key=ADMIN_KEY)
    # No KPI history yet (first sample of devices in an hour): the empty states.
    empty_server = start(tmp_path, "empty", "--kpi-history-interval", "1h",
                         "--fleet-history-interval", "1h")
    live = None
    try:
        # 24 h of history for 80 devices, then each reports every second for the whole run.
        simulate(server, "--devices", "80", "--history", "24h", "--history-step", "10m",
                 "--duration", "0", "--seed", "5")
        live = simulate(server, "--devices", "80", "--seed", "5", "--rate", "80", "--duration",
                        "forever", "--dropouts", "0", "--no-register", background=True)
        simulate(auth_server, "--devices", "5", "--history", "1h", "--duration", "0",
                 key=ADMIN_KEY)
        for i in range(3):
            server.create_device(f"e2e-off-{i}", type="temperature", location="lab")
            server.heartbeat(f"e2e-off-{i}", battery_level=50)
        server.create_device("e2e-flip", type="motion", location="lab")
        server.heartbeat("e2e-flip", battery_level=80)
        wait_until(lambda: server.device("e2e-flip")["status"] == "offline", timeout=15,
                   message="e2e-flip offline")
        # Issue 17: a device at a known place, one that only sends heartbeats, one with a
        # fixed history to export.
        server.heartbeat("e2e-geo", battery_level=70,
                         location={"lat": 48.85837, "lon": 2.29448, "name": "paris"})
        # With their own time, so they have a response time; create it typed so its KPI
        # trends show its type's average beside it.
        server.create_device("e2e-heartbeat-only", type="tracker", location="lab")
        for battery, dbm in ((91, -61), (90, -64), (88, -67)):
            server.heartbeat("e2e-heartbeat-only", battery_level=battery, signal_strength=dbm,
                             ts=time.time() - 0.3)
            time.sleep(0.05)
        assert server.post("/api/v1/telemetry", {"device_id": "e2e-gps-only", "lat": 52.37403,
                                                 "lon": 4.88969}).status == 200
        now_ms = int(time.time() * 1000)
        readings = [{"device_id": "e2e-export", "ts": now_ms - 7_200_000 + k * 60_000,
                     "temperature": round(20 + k * 0.1, 2), "humidity": 40 + k}
                    for k in range(30)]
        assert server.post("/api/v1/telemetry", readings).status == 200
        vehicles = server.get("/api/v1/devices?type=vehicle&limit=1").body
        devices = server.get("/api/v1/devices?type=temperature&q=sim-temp&limit=1").body
        chart_device = devices["devices"][0]["device_id"]

        env = hermetic_env({
            "FP_BASE_URL": server.base_url,
            "FP_AUTH_BASE_URL": auth_server.base_url,
            "FP_AUTH_KEY": ADMIN_KEY,
            "FP_EMPTY_BASE_URL": empty_server.base_url,
            "FP_CHART_DEVICE": chart_device,
            "FP_FLIP_DEVICE": "e2e-flip",
            "FP_VEHICLE_DEVICE": vehicles["devices"][0]["device_id"],
            "FP_HEARTBEAT_DEVICE": "e2e-heartbeat-only",
            "FP_EXPORT_DEVICE": "e2e-export",
            "FP_ARTIFACTS": str(ARTIFACTS),
        })
        proc = subprocess.run(["node", "--test", "--test-reporter=tap",
                               *[str(HERE / f) for f in SUITES]],
                              env=env, cwd=HERE, capture_output=True, text=True, timeout=480)
        (ARTIFACTS / "dashboard.test.log").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
        assert "# fail 0" in proc.stdout and f"# pass {TESTS}" in proc.stdout, proc.stdout[-3000:]
    finally:
        if live is not None:
            live.send_signal(signal.SIGINT)
            out, _ = live.communicate(timeout=30)
            assert live.returncode == 0, out
        for s in (server, auth_server, empty_server):
            assert s.stop() == 0, s.log()
