"""A device's last-seen time survives kill -9 even when the telemetry store checkpoints before
the catalog has it: the WAL records a checkpoint covers stay on disk until the catalog holds
their last-seen times, and recovery reads them for last-seen only.

The catalog is held locked from outside (a SQLite write transaction of the test's own), so the
server's last-seen write fails while a flush checkpoints the store; then kill -9."""

import sqlite3
import time

from fleetpulse_harness import rfc3339_to_epoch, wait_until


def last_seen_ms(server, device_id: str) -> int:
    return int(round(rfc3339_to_epoch(server.device(device_id)["last_seen"]) * 1000))


def send(server, device_id: str, value: float) -> None:
    resp = server.post("/api/v1/telemetry",
                       {"readings": [{"device_id": device_id, "metric": "t", "value": value}]})
    assert resp.status == 200, resp


def test_last_seen_survives_kill_9_when_the_catalog_write_fails_after_a_checkpoint(
        start_server):
    server = start_server()
    send(server, "ls-1", 1.0)
    # A flush checkpoints the store and makes the commit thread save last-seen to the catalog.
    assert server.post("/api/v1/admin/flush").status == 200
    first = last_seen_ms(server, "ls-1")
    wait_until(lambda: sqlite3.connect(server.data_dir / "catalog.db").execute(
        "SELECT last_seen FROM devices WHERE device_id = 'ls-1'").fetchone()[0] is not None,
        timeout=15, message="the first last-seen in the catalog")

    time.sleep(1.2)  # the second report is measurably later
    lock = sqlite3.connect(server.data_dir / "catalog.db", timeout=30, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the server's catalog writes now fail (busy)
    try:
        send(server, "ls-1", 2.0)
        second = last_seen_ms(server, "ls-1")
        assert second >= first + 1000
        # The checkpoint now covers the second report; its last-seen write to the catalog fails
        # (busy for 5 s), and the WAL must not be cut for it.
        assert server.post("/api/v1/admin/flush").status == 200
        wait_until(lambda: "event=commit_failed" in server.log(), timeout=30,
                   message="the server's catalog write to fail")
        time.sleep(0.5)
        server.kill()
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    server.start()
    assert last_seen_ms(server, "ls-1") == second


def test_last_seen_survives_kill_9_right_after_a_checkpoint(start_server):
    """No failure this time: kill -9 as soon as the flush answers (the checkpoint is on disk,
    the catalog write of last-seen may or may not have happened)."""
    server = start_server()
    send(server, "ls-2", 1.0)
    assert server.post("/api/v1/admin/flush").status == 200
    time.sleep(1.2)
    send(server, "ls-2", 2.0)
    second = last_seen_ms(server, "ls-2")
    assert server.post("/api/v1/admin/flush").status == 200
    server.kill()
    server.start()
    assert last_seen_ms(server, "ls-2") == second
