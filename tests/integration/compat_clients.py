"""The pinned npm clients of tests/compat (package.json + package-lock.json): installed with
`npm ci` only when the lock file changed since the last install, then run with node."""

import hashlib
import json
import subprocess
from pathlib import Path

from fleetpulse_harness import REPO_ROOT

COMPAT = REPO_ROOT / "tests" / "compat"
STAMP = COMPAT / "node_modules" / ".fleetpulse-lock-sha256"


def ensure_installed() -> None:
    lock = hashlib.sha256((COMPAT / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == lock:
        return
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline",
                           "--loglevel=error"], cwd=COMPAT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"npm ci in tests/compat failed (needs npm and the registry " \
                                 f"or its cache):\n{proc.stdout}{proc.stderr}"
    STAMP.write_text(lock)


def run_node(script: str, *args: str, timeout: float = 60) -> dict:
    """Runs tests/compat/<script> with `args`; returns the JSON object it prints."""
    ensure_installed()
    proc = subprocess.run(["node", str(COMPAT / script), *args], cwd=COMPAT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"node {script} exited {proc.returncode}:\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"node {script} printed no result:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1])
