"""Starts what tests/e2e/compat.test.mjs needs and runs it in Debian's Chromium: a fleetpulse
server with auth on, HTTPS (a self-signed certificate made by the openssl CLI) and CORS for
the origin of a second server, then `node --test compat.test.mjs` (/docs "try it out", the
dashboard over HTTPS, a cross-origin call with a preflight)."""

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from fleetpulse_harness import (FleetpulseServer, REPO_ROOT, free_port,  # noqa: E402
                                hermetic_env)

ARTIFACTS = Path(__import__("os").environ.get("FLEETPULSE_E2E_ARTIFACTS",
                                              REPO_ROOT / "build" / "e2e-artifacts"))
KEY = "e2e-compat-admin-key-0123456789"


def self_signed(directory: Path):
    cert, key = directory / "e2e.crt", directory / "e2e.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=fleetpulse-e2e",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der,
                          check=True, capture_output=True).stdout
    return cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_compat_in_chromium(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cert, key, spki = self_signed(tmp_path)
    other = FleetpulseServer(data_dir=tmp_path / "other", log_path=ARTIFACTS / "server-other.log")
    (tmp_path / "other").mkdir()
    other.start()
    https_port = free_port()
    (tmp_path / "main").mkdir()
    server = FleetpulseServer(
        data_dir=tmp_path / "main", log_path=ARTIFACTS / "server-compat.log", admin_key=KEY,
        extra_args=("--https", f"127.0.0.1:{https_port}", "--tls-cert", str(cert),
                    "--tls-key", str(key), "--cors-origins", other.base_url))
    server.start()
    try:
        env = hermetic_env({
            "FP_COMPAT_BASE_URL": server.base_url,
            "FP_COMPAT_HTTPS_URL": f"https://127.0.0.1:{https_port}",
            "FP_COMPAT_KEY": KEY,
            "FP_COMPAT_SPKI": spki,
            "FP_COMPAT_OTHER_URL": other.base_url,
            "FP_ARTIFACTS": str(ARTIFACTS),
        })
        proc = subprocess.run(["node", "--test", "--test-reporter=tap",
                               str(HERE / "compat.test.mjs")],
                              env=env, cwd=HERE, capture_output=True, text=True, timeout=240)
        (ARTIFACTS / "compat.test.log").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
        assert "# fail 0" in proc.stdout and "# pass 3" in proc.stdout, proc.stdout[-3000:]
    finally:
        for s in (server, other):
            assert s.stop() == 0, s.log()
