"""DELETE /api/v1/devices/{id} cannot be left half done by a crash. The catalog row and the
store's removal record are written in an order (intent journal, removal, row) that the next
start completes: after kill -9 at any moment the device is either wholly there (row and
readings) or wholly gone (no row, no readings, not registered again from older telemetry by
the WAL replay). The crash states are produced both by kill -9 at varied moments and directly,
by leaving the intent journal that a crash between the steps leaves on disk."""

import threading
import time

from fleetpulse_harness import wait_until

T0 = 1767225600000  # 2026-01-01T00:00:00Z
N = 50
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"


def write_readings(server, device: str) -> None:
    batch = [{"device_id": device, "ts": T0 + i * 1000, "metric": "temp", "value": i}
             for i in range(N)]
    resp = server.post("/api/v1/telemetry", batch)
    assert resp.status == 200, resp


def readings(server, device: str) -> int:
    resp = server.get(f"/api/v1/devices/{device}/telemetry?metric=temp&limit=10000&{WIDE}")
    assert resp.status in (200, 404), resp
    return len(resp.json["points"]) if resp.status == 200 else 0


def state(server, device: str) -> str:
    """'whole' (row and every reading), 'gone' (neither), or what is wrong."""
    row = server.get(f"/api/v1/devices/{device}").status
    n = readings(server, device)
    if row == 200 and n == N:
        return "whole"
    if row == 404 and n == 0:
        return "gone"
    return f"half: row {row}, {n} of {N} readings"


def journal(server):
    return server.data_dir / "device-deletions"


def test_deleted_device_stays_deleted_across_kill_9(start_server):
    server = start_server()
    write_readings(server, "del-a")
    assert state(server, "del-a") == "whole"
    resp = server.delete("/api/v1/devices/del-a?purge=true")
    assert resp.status == 204, resp
    server.kill()
    server.start()
    assert state(server, "del-a") == "gone"
    server.restart()
    assert state(server, "del-a") == "gone", "the deleted device came back"


def test_kill_9_at_any_moment_of_a_delete_leaves_it_whole_or_gone(start_server):
    server = start_server()
    outcomes = []
    for round_ in range(6):
        device = f"del-race-{round_}"
        write_readings(server, device)
        assert state(server, device) == "whole"

        answered = []

        def delete():
            try:
                answered.append(server.delete(f"/api/v1/devices/{device}?purge=true").status)
            except Exception:  # noqa: BLE001 - the server is killed under it on purpose
                pass
        t = threading.Thread(target=delete)
        t.start()
        time.sleep(round_ * 0.003)
        server.kill()
        t.join(timeout=10)
        server.start()
        first = state(server, device)
        assert first in ("whole", "gone"), f"round {round_}: {first}"
        if answered == [204]:
            assert first == "gone", f"round {round_}: acknowledged, yet {first}"
        server.restart()
        assert state(server, device) == first, f"round {round_}: changed at the next start"
        outcomes.append(first)
    assert "gone" in outcomes or "whole" in outcomes


def test_a_delete_interrupted_after_its_intent_is_finished_at_the_next_start(start_server):
    """The disk state kill -9 leaves between the intent and the catalog row's deletion: the
    intent journal names the device, its row and (unless the removal was logged) its readings
    are still there. The next start deletes it wholly, and it stays deleted."""
    server = start_server()
    write_readings(server, "del-b")
    write_readings(server, "keep-b")
    created = server.get("/api/v1/devices/del-b").json
    assert created["device_id"] == "del-b"
    server.kill()
    now_ms = int(time.time() * 1000) + 1000
    journal(server).write_text(f"{now_ms} 1 {'del-b'.encode().hex()}\n")
    server.start()
    assert state(server, "del-b") == "gone"
    assert state(server, "keep-b") == "whole"
    assert journal(server).read_text() == "", "the finished deletion is still journaled"
    server.kill()
    server.start()
    assert state(server, "del-b") == "gone", "the deleted device came back after kill -9"


def test_a_device_created_again_after_an_unfinished_delete_is_left_alone(start_server):
    """An intent older than the device's row: the row was deleted and created again before the
    intent was cleared. The device (new readings included) stays."""
    server = start_server()
    write_readings(server, "del-c")
    server.kill()
    journal(server).write_text(f"{T0} 1 {'del-c'.encode().hex()}\n")
    server.start()
    assert state(server, "del-c") == "whole"
    wait_until(lambda: journal(server).read_text() == "", timeout=5,
               message="the stale intent cleared")


def test_delete_without_purge_keeps_nothing_registered_after_kill_9(start_server):
    server = start_server()
    write_readings(server, "del-d")
    assert server.delete("/api/v1/devices/del-d").status == 204
    server.kill()
    server.start()
    assert server.get("/api/v1/devices/del-d").status == 404
    assert server.delete("/api/v1/devices/del-d").status == 404
