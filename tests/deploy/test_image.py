"""The container image (deploy/container/Containerfile), built with buildah from local Debian 12
bases (tests/deploy/build_image.sh): its configuration (non-root user, volume, ports,
FLEETPULSE_* environment, HEALTHCHECK on /ready), only runtime libraries inside, and the image
run with `buildah run` as its own user answering /ready, ingesting and querying; its
HEALTHCHECK command passes; and the server as PID 1 of its own PID namespace (as in a
container) exits 0 on SIGTERM. Containers and mounts are removed whatever happens."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (HERE, IMAGE_REPORT, REPO, free_port, http, require_root, require_tool, stop,
                      wait_ready)

IMAGE = "localhost/fleetpulse:test"


@pytest.fixture(scope="module")
def image(fleetpulse_bin, debian_tarball):
    require_root()
    require_tool("buildah", "apt-get install buildah")
    start = time.monotonic()
    r = subprocess.run([str(HERE / "build_image.sh")], capture_output=True, text=True,
                       env={**os.environ, "FLEETPULSE_BIN": str(fleetpulse_bin), "IMAGE": IMAGE})
    assert r.returncode == 0, r.stderr[-4000:]
    size = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[\d.]+ [kMG]B", size), f"not a size: {size!r}"
    binary = (REPO / "build/container/fleetpulse").stat().st_size
    # Kept for scripts/test.sh, which prints it after ctest (ctest hides a passing test's
    # output), and shown in pytest's summary (conftest.py) even with -q.
    IMAGE_REPORT.write_text(f"{IMAGE}: {size}, stripped binary {binary / 1e6:.1f} MB, "
                            f"built in {time.monotonic() - start:.0f}s\n")
    return IMAGE


def inspect(image: str) -> dict:
    r = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout)


class Container:
    """A buildah working container of the image; removed (and unmounted) on close."""

    def __init__(self, image: str):
        self.name = subprocess.run(["buildah", "from", "--pull-never", image],
                                   capture_output=True, text=True,
                                   check=True).stdout.strip().splitlines()[-1]

    def run(self, *cmd: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self._argv(cmd, env), capture_output=True, text=True, **kw)

    def popen(self, *cmd: str, env: dict | None = None, log: Path) -> subprocess.Popen:
        return subprocess.Popen(self._argv(cmd, env), stdout=open(log, "ab"),
                                stderr=subprocess.STDOUT)

    def _argv(self, cmd, env) -> list[str]:
        argv = ["buildah", "run", "--isolation", "chroot"]
        for k, v in (env or {}).items():
            argv += ["--env", f"{k}={v}"]
        return argv + [self.name, "--", *cmd]

    def mount(self) -> Path:
        return Path(subprocess.run(["buildah", "mount", self.name], capture_output=True,
                                   text=True, check=True).stdout.strip())

    def close(self) -> None:
        subprocess.run(["buildah", "umount", self.name], capture_output=True)
        subprocess.run(["buildah", "rm", self.name], capture_output=True)


@pytest.fixture
def container(image):
    c = Container(image)
    try:
        yield c
    finally:
        c.close()


def descendant(pid: int, exe_suffix: str, timeout: float = 15.0) -> int:
    """The first process under `pid` (at any depth) whose command line starts with a path
    ending in `exe_suffix`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parents: dict[int, int] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                    parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        for p in sorted(parents):
            q = parents.get(p)
            while q and q != pid:
                q = parents.get(q)
            if q != pid:
                continue
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if cmd.endswith(exe_suffix):
                return p
        time.sleep(0.1)
    pytest.fail(f"no {exe_suffix} under pid {pid}", pytrace=False)


def test_image_configuration(image):
    cfg = inspect(image)
    oci = cfg["OCIv1"]["config"]
    docker = cfg["Docker"]["config"]
    assert oci["User"] == "10001:10001"
    assert set(oci["ExposedPorts"]) == {"8080/tcp", "1883/tcp"}
    assert set(oci["Volumes"]) == {"/var/lib/fleetpulse"}
    env = dict(e.split("=", 1) for e in oci["Env"])
    assert env["FLEETPULSE_DATA_DIR"] == "/var/lib/fleetpulse"
    assert env["FLEETPULSE_HTTP"] == "0.0.0.0:8080"
    assert env["FLEETPULSE_MQTT"] == "0.0.0.0:1883"
    assert oci["Entrypoint"] == ["/usr/bin/fleetpulse"] and oci["Cmd"] == ["serve"]
    assert docker["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/fleetpulse-healthcheck"]
    assert oci.get("StopSignal") == "SIGTERM"


def test_image_holds_only_runtime_libraries(container):
    r = container.run("dpkg-query", "-W", "-f=${Package}\n", check=True)
    packages = set(r.stdout.split())
    unwanted = sorted(p for p in packages if p.endswith("-dev") or p in
                      {"gcc", "g++", "cmake", "ninja-build", "nodejs", "npm", "make"})
    assert not unwanted, unwanted
    ldd = container.run("ldd", "/usr/bin/fleetpulse", check=True).stdout
    assert "not found" not in ldd, ldd
    # A stripped release binary, not one with debug info.
    file_size = container.run("stat", "-c", "%s", "/usr/bin/fleetpulse", check=True).stdout
    assert int(file_size) < 20_000_000, file_size


def test_image_runs_as_its_user_answers_ready_ingests_and_queries(container, tmp_path):
    port = free_port()
    env = {"FLEETPULSE_HTTP": f"127.0.0.1:{port}", "FLEETPULSE_MQTT": f"127.0.0.1:{free_port()}"}
    assert container.run("id", "-u").stdout.strip() == "10001"
    log = tmp_path / "container.log"
    proc = container.popen("/usr/bin/fleetpulse", "serve", env=env, log=log)
    server = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log)
        server = descendant(proc.pid, "/usr/bin/fleetpulse")
        assert os.stat(f"/proc/{server}").st_uid == 10001, "the server does not run as 10001"
        reading = {"device_id": "img-dev-1", "ts": 1767225600000, "temperature": 21.5}
        status, body = http("POST", base + "/api/v1/telemetry", reading)
        assert status == 200, body
        status, body = http("GET", base + "/api/v1/devices/img-dev-1/telemetry?metric=temperature"
                            "&start=1767225000000&end=1767226000000")
        assert status == 200, body
        points = json.loads(body)["points"]
        assert [p["value"] for p in points] == [21.5], body
        health = container.run("/usr/local/bin/fleetpulse-healthcheck", env=env)
        assert health.returncode == 0, health
        os.kill(server, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-2000:]
        # Stopped: the same HEALTHCHECK now fails.
        assert container.run("/usr/local/bin/fleetpulse-healthcheck", env=env).returncode != 0
    finally:
        stop(proc)
        if server:
            try:
                os.kill(server, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sigterm_to_pid_1_stops_the_server_cleanly(container, tmp_path):
    """In a container the server is PID 1, which gets no default signal actions: SIGTERM must
    still end it with exit 0 (it waits for the blocked signal with sigwait)."""
    require_tool("unshare", "apt-get install util-linux")
    root = container.mount()
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "FLEETPULSE_DATA_DIR": "/var/lib/fleetpulse",
           "FLEETPULSE_HTTP": f"127.0.0.1:{port}", "FLEETPULSE_MQTT": "off"}
    log = tmp_path / "pid1.log"
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", shutil.which("chroot"),
                             "--userspec=10001:10001", str(root), "/usr/bin/fleetpulse", "serve"],
                            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log)
        pid1 = descendant(proc.pid, "/usr/bin/fleetpulse")
        status = Path(f"/proc/{pid1}/status").read_text()
        nspid = [line for line in status.splitlines() if line.startswith("NSpid:")][0].split()
        assert nspid[-1] == "1", f"not PID 1 in its namespace: {nspid}"
        os.kill(pid1, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-2000:]
        assert "event=stopped" in log.read_text()
    finally:
        stop(proc)
