"""Shared pieces of the deployment tests: the binary under test, tools that must exist (a
missing tool fails the test with the command that installs it; nothing is skipped), free
ports, HTTP probes, and a Debian 12 root file system (from the cached debootstrap tarball of
debian_root.sh) used as a chroot without any mount, so nothing is left mounted."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("FLEETPULSE_BUILD_CACHE", "/var/cache/fleetpulse-build"))
IMAGE_REPORT = REPO / "build/container/image-size.txt"  # written by test_image.py


def pytest_sessionstart(session):
    IMAGE_REPORT.unlink(missing_ok=True)  # never report a size this run did not measure


def pytest_terminal_summary(terminalreporter):
    """The container image's size, in the summary that -q and output capture keep."""
    if IMAGE_REPORT.exists():
        terminalreporter.write_line(f"container image {IMAGE_REPORT.read_text().strip()}")


def require_tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: {install} (scripts/install-deps.sh does this)",
                    pytrace=False)
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the package and image tests need root (chroot, dpkg in a chroot, buildah)",
                    pytrace=False)


@pytest.fixture(scope="session")
def fleetpulse_bin() -> Path:
    value = os.environ.get("FLEETPULSE_BIN")
    if not value or not Path(value).is_file():
        pytest.fail("FLEETPULSE_BIN must name the release binary (ctest sets it)", pytrace=False)
    return Path(value)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: object | None = None, headers: dict | None = None,
         timeout: float = 5.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    """Waits for GET /ready to answer 200; fails with the server's log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before /ready:\n"
                        f"{log.read_text(errors='replace')[-3000:]}", pytrace=False)
        try:
            if http("GET", base + "/ready", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/ready did not answer 200 within {timeout}s:\n"
                f"{log.read_text(errors='replace')[-3000:]}", pytrace=False)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.fixture(scope="session")
def debian_tarball() -> Path:
    """The cached Debian 12 root (debootstrap, built on first use; fails without a mirror)."""
    require_root()
    require_tool("debootstrap", "apt-get install debootstrap")
    r = subprocess.run([str(HERE / "debian_root.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"no Debian 12 root: {r.stderr.strip()}", pytrace=False)
    return Path(r.stdout.strip().splitlines()[-1])


def extract_root(tarball: Path, dest: Path) -> Path:
    """A fresh copy of the root, ready for chroot (resolv.conf for apt, no mounts)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--numeric-owner", "-C", str(dest), "-xf", str(tarball)], check=True)
    shutil.copy("/etc/resolv.conf", dest / "etc/resolv.conf")
    return dest


def remove_root(root: Path) -> None:
    # Nothing is ever mounted under a test root; refuse to delete through a mount anyway.
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f if line.split()[1].startswith(str(root))]
    assert not mounted, f"left mounted under {root}: {mounted}"
    shutil.rmtree(root, ignore_errors=True)
