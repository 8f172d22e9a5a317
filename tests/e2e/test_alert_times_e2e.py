"""Runs alert_times.test.mjs (a backfilled alert shows its condition time, the alert's
`condition_at`, not when the server raised it) against a fresh server in Chromium."""

import subprocess

from test_e2e import ARTIFACTS, HERE, start
from fleetpulse_harness import hermetic_env


def test_backfilled_alert_shows_its_condition_time(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = start(tmp_path, "alert-times")
    try:
        env = hermetic_env({"FP_BASE_URL": server.base_url, "FP_ARTIFACTS": str(ARTIFACTS)})
        proc = subprocess.run(["node", "--test", "--test-reporter=tap",
                               str(HERE / "alert_times.test.mjs")],
                              env=env, cwd=HERE, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "# pass 1" in proc.stdout, \
            proc.stdout[-6000:] + proc.stderr[-2000:]
    finally:
        assert server.stop() == 0, server.log()
