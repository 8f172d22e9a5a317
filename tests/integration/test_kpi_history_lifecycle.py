"""KPI history over a device's life and the server's (issue 15): deleting a device removes its
KPI history (PromQL and GET /kpis/history), a device created again under the same id starts a
new history without the old one coming back — also from blocks and after kill -9 — and the
messages reported between the last KPI sample and a kill -9 are in the history after the
restart (no gap)."""

import time

from fleetpulse_harness import wait_until
from test_kpi_history import raw_points

FAST = ("--kpi-history-interval", "300ms", "--at-risk-after", "1s", "--offline-after", "2s")
KPIS = ["availability", "uptime", "response_time_ms", "messages", "errors", "battery_level"]


def history(server, device):
    """{kpi: [(t, v)]} of the device's KPI history in the last hour, as PromQL has it."""
    out = {}
    for k in KPIS:
        got = raw_points(server, f'fleetpulse_device_{k}{{device_id="{device}"}}[1h]', time.time())
        out[k] = got.get(f"fleetpulse_device_{k}", [])
    return out


def route_points(server, device):
    r = server.get(f"/api/v1/kpis/history?device_id={device}&start=-1h&step=1s")
    assert r.status == 200, r
    return [p for s in r.json["series"] for p in s["points"]]


def report(server, device, n, battery):
    for _ in range(n):
        server.heartbeat(device, battery_level=battery, ts=time.time() - 0.1)
        time.sleep(0.1)


def test_a_deleted_device_takes_its_kpi_history_along_and_a_reused_id_starts_afresh(
        start_server):
    server = start_server(*FAST)
    server.create_device("gone", type="meter", location="plant")
    server.create_device("stays", type="meter", location="plant")
    report(server, "gone", 4, 55)
    report(server, "stays", 2, 66)
    wait_until(lambda: sum(v for _, v in history(server, "gone")["messages"]) == 4, timeout=10,
               message="gone's messages in its KPI history")
    # Part of the history in block files, part in the head (the deletion must hide both).
    assert server.post("/api/v1/admin/flush", {}).status in (200, 202, 204)
    wait_until(lambda: len(history(server, "gone")["battery_level"]) >= 2, timeout=10,
               message="more samples after the flush")
    stays_before = history(server, "stays")["availability"]

    assert server.delete("/api/v1/devices/gone").status == 204
    assert all(v == [] for v in history(server, "gone").values()), history(server, "gone")
    assert server.get("/api/v1/kpis/history?device_id=gone").status == 404
    # The other device's history is untouched.
    assert history(server, "stays")["availability"][:len(stays_before)] == stays_before

    # The same id again: a new history, nothing of the old one.
    reborn = time.time()
    server.create_device("gone", type="meter", location="plant")
    report(server, "gone", 2, 11)
    wait_until(lambda: sum(v for _, v in history(server, "gone")["messages"]) == 2, timeout=10,
               message="the new device's messages (and only those) in its history")

    def only_new(h):
        assert all(t >= reborn - 0.5 for pts in h.values() for t, _ in pts), h
        assert {v for _, v in h["battery_level"]} == {11.0}, h["battery_level"]
        assert all(p["ts"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(reborn - 1))
                   for p in route_points(server, "gone"))
    only_new(history(server, "gone"))
    # Crash and restart: the WAL replay and the blocks do not bring the old history back.
    server.kill()
    server.start()
    only_new(history(server, "gone"))
    assert sum(v for _, v in history(server, "gone")["messages"]) == 2


def test_messages_between_the_last_sample_and_a_kill_9_are_in_the_history_after_restart(
        start_server):
    server = start_server("--kpi-history-interval", "2s")
    server.create_device("steady", type="meter", location="plant")

    def total():
        return sum(v for _, v in history(server, "steady")["messages"])
    report(server, "steady", 2, 50)
    sent = 2
    wait_until(lambda: total() == sent, timeout=10, message="the first reports in the history")
    # Report right after a sample and crash before the next one takes them (on a loaded
    # machine a sample may come first: then try again after it).
    for _ in range(6):
        n = len(history(server, "steady")["messages"])
        wait_until(lambda: len(history(server, "steady")["messages"]) > n, timeout=10,
                   message="the next sample")
        report(server, "steady", 3, 49)
        sent += 3
        if total() < sent:
            break
    else:
        raise AssertionError("never crashed between a report and the next sample")
    server.kill()
    server.start()
    # Every report is counted once: those sent just before the crash appear after it.
    wait_until(lambda: total() == sent, timeout=15,
               message="the reports before the crash in the history after the restart")
    time.sleep(2.5)
    assert total() == sent, history(server, "steady")["messages"]
