"""A full disk, for real: the data directory lives on a small tmpfs volume of its own. Writes
that cannot be made durable are refused with 503 and Retry-After (never a success), detailed
health says the disk is critical and storage degraded, and once space returns both recover by
themselves (no restart: the disk at once, storage at the next commit) and writes resume. Every acknowledged reading is there afterwards,
also after kill -9.

Mounting needs root (CI and the developer machines run as root); without it the test fails
with a clear message rather than being skipped.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from fleetpulse_harness import wait_until

VOLUME_MIB = 24


@pytest.fixture
def small_volume(tmp_path):
    mount_point = tmp_path / "volume"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.fail("test_disk_full mounts a tmpfs volume and needs root (run the suite as root)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MIB}M", "tmpfs",
                        str(mount_point)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs volume for the full-disk test: {r.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_leaving(volume: Path, leave_bytes: int) -> Path:
    """Creates a filler file so that about `leave_bytes` stay free on the volume."""
    st = os.statvfs(volume)
    free = st.f_bavail * st.f_frsize
    filler = volume / "filler"
    with open(filler, "wb") as f:
        remaining = max(0, free - leave_bytes)
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            n = min(remaining, len(chunk))
            f.write(chunk[:n])
            remaining -= n
        f.flush()
        os.fsync(f.fileno())
    return filler


def lp_batch(device: str, first_ts_ms: int, lines: int) -> bytes:
    # Explicit, distinct timestamps: every acknowledged line is one point we can count.
    return "".join(f"env,device_id={device} temperature={i % 50}.5,humidity={i % 90}.25 "
                   f"{(first_ts_ms + i) * 1_000_000}\n" for i in range(lines)).encode()


def stored_points(server, device: str, start_ms: int) -> int:
    total, cursor = 0, None
    while True:
        path = (f"/api/v1/devices/{device}/telemetry?metric=env.temperature&start={start_ms}"
                f"&end={start_ms + 10_000_000}&limit=10000")
        if cursor:
            path += f"&cursor={cursor}"
        resp = server.get(path)
        assert resp.status == 200, resp
        total += len(resp.json["points"])
        cursor = resp.json.get("next_cursor")
        if not cursor:
            return total


def storage_state(server) -> tuple[str, str]:
    body = server.get("/api/v1/health/detailed").json
    components = body.get("components", body)
    storage = components.get("storage", {})
    disk = components.get("disk", {})
    return storage.get("status", storage.get("state", "")), disk.get("status", disk.get("state", ""))


def test_full_disk_refuses_writes_then_recovers_by_itself_and_loses_nothing(start_server,
                                                                           small_volume):
    data_dir = small_volume / "data"
    data_dir.mkdir()
    server = start_server(data_dir=data_dir)
    device = "disk-full-1"
    start_ms = int(time.time() * 1000) - 3_600_000
    acked = 0
    assert server.post("/write", raw=lp_batch(device, start_ms, 100)).status == 204
    acked += 100

    filler = fill_leaving(small_volume, 2 << 20)
    refused = None
    for round_no in range(400):
        resp = server.post("/write", raw=lp_batch(device, start_ms + acked, 2000))
        if resp.status == 204:
            acked += 2000
            continue
        refused = resp
        break
    assert refused is not None, "the volume never filled up"
    assert refused.status == 503, refused
    assert refused.header("Retry-After"), refused
    storage, disk = storage_state(server)
    assert storage != "ok" or disk not in ("ok", ""), (storage, disk)
    # Health itself still answers at once, and reads still work while the disk is full.
    assert server.get("/health").status == 200
    assert stored_points(server, device, start_ms) == acked

    filler.unlink()
    # The disk component follows the free space at once; storage says degraded until a commit
    # succeeds again, which the next write does without a restart.
    wait_until(lambda: storage_state(server)[1] == "ok", timeout=15,
               message="detailed health to show the disk ok again after space returned")
    resp = server.post("/write", raw=lp_batch(device, start_ms + acked, 500))
    assert resp.status == 204, resp
    acked += 500
    assert storage_state(server) == ("ok", "ok")
    assert server.get("/api/v1/health/detailed").json["status"] == "ok"
    assert stored_points(server, device, start_ms) == acked

    server.kill()
    server.restart()
    assert stored_points(server, device, start_ms) == acked
    assert storage_state(server)[0] == "ok"
