"""Process lifecycle: clean exit on SIGTERM/SIGINT, draining in-flight requests, and the
registry (devices, metadata, status history) surviving restarts and crashes."""

import http.client
import signal
import threading
import time

import pytest

from fleetpulse_harness import exchange, metric_value, wait_until

PERSISTED_FIELDS = ("device_id", "name", "type", "location", "metadata", "config", "created_at",
                    "updated_at", "last_seen", "battery_level", "signal_strength")


def populate(server) -> None:
    server.create_device("p-1", name="One", type="pump", location="hall",
                         metadata={"vendor": "acme", "nested": {"a": [1, 2]}},
                         config={"interval_s": 10})
    server.patch("/api/v1/devices/p-1", {"metadata": {"vendor": None, "rev": 2}})
    server.create_device("p-2", type="camera")
    server.heartbeat("p-2", battery_level=80, signal_strength=-70, location="roof")
    server.heartbeat("p-3", name="Auto", battery_level=10)
    server.heartbeat("p-3", battery_level=90)
    server.create_device("p-gone")
    assert server.delete("/api/v1/devices/p-gone").status == 204


def snapshot(server) -> dict:
    devices = {d: server.device(d) for d in server.device_ids()}
    return {d: {f: dev[f] for f in PERSISTED_FIELDS} for d, dev in devices.items()}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_with_exit_code_0(server, signum):
    server.heartbeat("x")
    started = time.monotonic()
    assert server.stop(signum) == 0, server.log()
    assert time.monotonic() - started < 5


def test_idle_keep_alive_connection_does_not_delay_shutdown(server):
    conn = server.connect()
    try:
        assert exchange(conn, "GET", "/health").status == 200
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 5
    finally:
        conn.close()


def test_restart_keeps_devices_with_their_metadata_and_config(server):
    populate(server)
    before = snapshot(server)
    assert set(before) == {"p-1", "p-2", "p-3"}
    assert before["p-1"]["metadata"] == {"nested": {"a": [1, 2]}, "rev": 2}
    server.restart()
    assert snapshot(server) == before


def test_restart_keeps_the_status_history(server):
    populate(server)
    history = {d: server.status_history(d) for d in ("p-1", "p-2", "p-3")}
    server.restart()
    for device_id, transitions in history.items():
        after = server.status_history(device_id)
        assert after[:len(transitions)] == transitions, device_id
    assert [(t["from"], t["to"]) for t in history["p-3"]] == [
        ("unknown", "at_risk"), ("at_risk", "online")]


def test_restart_keeps_statuses_and_counts(server):
    populate(server)
    stats = server.get("/api/v1/stats").json["devices"]
    server.restart()
    assert server.get("/api/v1/stats").json["devices"] == stats
    assert server.device("p-2")["status"] == "online"
    assert server.device("p-1")["status"] == "unknown"


@pytest.mark.slow
def test_status_clock_keeps_running_across_a_restart(start_server):
    server = start_server("--at-risk-after", "1s", "--offline-after", "2s")
    server.heartbeat("sleeper", battery_level=90)
    server.restart()
    # No request touches the device: the restarted server must re-arm its deadlines itself.
    time.sleep(3.0)
    transitions = server.status_history("sleeper")
    assert transitions[-1]["to"] == "offline", transitions
    assert server.device("sleeper")["status"] == "offline"


@pytest.mark.slow
def test_device_silent_while_the_server_was_down_is_offline_once_ready(start_server):
    server = start_server("--at-risk-after", "1s", "--offline-after", "2s")
    server.heartbeat("left-behind", battery_level=90)
    assert server.stop() == 0
    time.sleep(2.5)
    server.start()
    assert server.device("left-behind")["status"] == "offline"
    # The list filter may trail the device view by the time the restored statuses take to be
    # re-evaluated after /ready; it must catch up promptly.
    wait_until(lambda: server.device_ids("status=offline") == ["left-behind"], timeout=3,
               interval=0.05, message="the offline filter to list the device after restart")


def test_metrics_reflect_the_restored_registry(server):
    populate(server)
    server.restart()
    text = server.metrics_text()
    assert metric_value(text, "fleetpulse_devices", status="online") == 2
    assert metric_value(text, "fleetpulse_devices", status="unknown") == 1
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="p-2") == 80
    assert metric_value(text, "fleetpulse_device_signal_strength", device_id="p-2") == -70


def test_deleted_device_stays_deleted_after_restart(server):
    populate(server)
    server.restart()
    assert server.get("/api/v1/devices/p-gone").status == 404


def test_several_restarts_keep_accumulating(server):
    for round_ in range(3):
        server.create_device(f"round-{round_}")
        server.restart()
    assert server.device_ids() == ["round-0", "round-1", "round-2"]


def test_acknowledged_registrations_survive_kill_9(server):
    populate(server)
    before = snapshot(server)
    server.kill()
    server.start()
    assert snapshot(server) == before


def test_sigterm_drains_in_flight_requests_and_keeps_what_was_acknowledged(server):
    acknowledged: list[str] = []
    bad_answers: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        conn = server.connect()
        i = 0
        try:
            while not stop.is_set():
                device_id = f"w{worker}-{i}"
                try:
                    resp = exchange(conn, "POST", "/api/v1/heartbeat",
                                    {"device_id": device_id, "battery_level": 50})
                except (OSError, http.client.HTTPException):
                    return  # the server has stopped accepting; fine
                if resp.status == 200:
                    acknowledged.append(device_id)
                elif resp.status != 503:
                    bad_answers.append(f"{resp.status} {resp.text}")
                i += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for = time.monotonic() + 5
        while len(acknowledged) < 50 and time.monotonic() < wait_for:
            time.sleep(0.01)
        assert server.stop(signal.SIGTERM) == 0, server.log()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not bad_answers, bad_answers[:5]
    assert acknowledged, "no heartbeat was acknowledged before shutdown"
    server.start()
    stored = set(server.device_ids())
    missing = [d for d in acknowledged if d not in stored]
    assert not missing, f"{len(missing)} acknowledged heartbeats lost, e.g. {missing[:5]}"


def test_second_server_on_the_same_data_dir_refuses_to_start(server, start_server):
    second = start_server.create(data_dir=server.data_dir)
    with pytest.raises(AssertionError, match="before becoming ready"):
        second.start()
    assert server.get("/health").status == 200
