"""Durability of telemetry: every acknowledged reading survives kill -9 during sustained
concurrent ingest; a SIGTERM restart keeps latest values and raw points; a WAL whose tail is
torn on disk is cut at the last good record with a warning and nothing before it is lost; the
relaxed fsync policies (none, interval) still answer and store."""

import http.client
import signal
import threading
import time
from pathlib import Path

import pytest

from fleetpulse_harness import exchange, rfc3339_to_epoch, urlquote, wait_until

T0 = 1767225600000  # 2026-01-01T00:00:00.000Z
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
PAGE = 100_000


def to_ms(text: str) -> int:
    return int(round(rfc3339_to_epoch(text) * 1000))


def all_points(server, device_id: str, metric: str) -> list[tuple[int, float]]:
    """Every raw point of one series (oldest first), following next_cursor."""
    out, cursor = [], None
    for _ in range(10_000):
        query = f"metric={urlquote(metric)}&{WIDE}&limit={PAGE}"
        if cursor:
            query += f"&cursor={urlquote(cursor)}"
        resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/telemetry?{query}")
        if resp.status == 404:
            return out
        assert resp.status == 200, resp
        out += [(to_ms(p["ts"]), p["value"]) for p in resp.json["points"]]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("cursor never ended")


def latest(server, device_id: str) -> dict:
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/latest")
    assert resp.status == 200, resp
    return resp.json["values"]


def snapshot(server, devices: dict[str, list[str]]) -> dict:
    """Latest values and raw points of the given {device: [metrics]}."""
    return {d: {"latest": latest(server, d), **{m: all_points(server, d, m) for m in metrics}}
            for d, metrics in devices.items()}


def ingest(server, readings) -> None:
    resp = server.post("/api/v1/telemetry", readings)
    assert resp.status == 200, resp


def write_lines(server, text: str, query: str = "precision=ms") -> None:
    resp = server.post(f"/api/v1/write?{query}", raw=text.encode())
    assert resp.status == 204, resp


def populate(server) -> dict[str, list[str]]:
    """A varied data set; returns the {device: [metrics]} it wrote."""
    # Out-of-order points across requests, an overwrite, several forms.
    ingest(server, [{"device_id": "dur-a", "ts": T0 + i * 1000, "t": i * 0.5, "h": 100 - i}
                    for i in range(50, 100)])
    ingest(server, [{"device_id": "dur-a", "ts": T0 + i * 1000, "t": i * 0.5, "h": 100 - i}
                    for i in range(0, 50)])
    ingest(server, {"device_id": "dur-a", "ts": T0 + 10_000, "metric": "t", "value": -1.0})
    ingest(server, [{"device_id": "dur-b", "ts": T0, "values": {"v": 3.7, "on": True}},
                    {"device_id": "dur-b", "metric_type": "rssi", "value": -70, "ts": T0 + 5}])
    write_lines(server, "".join(f"env,device_id=dur-c temp={20 + i / 10},n={i}i {T0 + i}\n"
                                for i in range(200)))
    # A longer series, to get past any in-memory buffer sizes.
    for start in range(0, 20_000, 5000):
        ingest(server, [{"device_id": "dur-d", "ts": T0 + i * 10, "x": i}
                        for i in range(start, start + 5000)])
    return {"dur-a": ["t", "h"], "dur-b": ["v", "on", "rssi"], "dur-c": ["env.temp", "env.n"],
            "dur-d": ["x"]}


# -- (1) kill -9 during sustained ingest ---------------------------------------------------------

WORKERS = 4
BATCH = 50
INGEST_SECONDS = 2.5


@pytest.mark.parametrize("flags", [(), ("--flush-points", "1000", "--seal-after", "1s")],
                         ids=["wal-only", "sealing-and-compacting-all-the-time"])
def test_every_acknowledged_reading_survives_kill_9_during_sustained_ingest(start_server, flags):
    server = start_server(*flags)
    acked: list[set[int]] = [set() for _ in range(WORKERS)]
    sent: list[set[int]] = [set() for _ in range(WORKERS)]
    requests_acked = [0] * WORKERS
    bad_answers: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        device_id = f"k9-{worker}"
        seq = 0
        conn = server.connect()
        try:
            while not stop.is_set():
                seqs = range(seq, seq + BATCH)
                seq += BATCH
                body = [{"device_id": device_id, "ts": T0 + s, "v": s} for s in seqs]
                sent[worker].update(seqs)
                try:
                    resp = exchange(conn, "POST", "/api/v1/telemetry", body)
                except (OSError, http.client.HTTPException):
                    return  # the server is gone: this request's fate is unknown
                if resp.status == 200 and resp.json == {"accepted": BATCH}:
                    acked[worker].update(seqs)
                    requests_acked[worker] += 1
                elif resp.status not in (429, 503):
                    bad_answers.append(f"{resp.status} {resp.text[:200]}")
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        started = time.monotonic()
        wait_until(lambda: time.monotonic() - started >= INGEST_SECONDS and
                   min(requests_acked) >= 5, timeout=INGEST_SECONDS + 10, interval=0.02,
                   message="every client to get acknowledgements")
        assert all(t.is_alive() for t in threads), f"a client stopped early: {bad_answers[:3]}"
        server.kill()  # SIGKILL with requests in flight
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not bad_answers, bad_answers[:5]

    server.start()
    total_acked = sum(len(a) for a in acked)
    assert total_acked >= WORKERS * 5 * BATCH
    assert set(server.device_ids()) >= {f"k9-{w}" for w in range(WORKERS)}
    for worker in range(WORKERS):
        device_id = f"k9-{worker}"
        stored = all_points(server, device_id, "v")
        stored_seqs = [ts - T0 for ts, _ in stored]
        assert len(stored_seqs) == len(set(stored_seqs)), f"{device_id}: duplicate points"
        for ts, value in stored:
            assert value == ts - T0, (device_id, ts, value)
        stored_set = set(stored_seqs)
        lost = acked[worker] - stored_set
        assert not lost, (f"{device_id}: {len(lost)} of {len(acked[worker])} acknowledged "
                          f"readings lost after kill -9, e.g. seq {sorted(lost)[:10]}")
        invented = stored_set - sent[worker]
        assert not invented, f"{device_id}: points that were never sent: {sorted(invented)[:10]}"
    if flags:
        tsdb = server.get("/api/v1/health/detailed").json["components"]["tsdb"]
        assert tsdb["blocks"] > 0, tsdb
    # The recovered server keeps taking writes.
    ingest(server, {"device_id": "k9-0", "ts": T0 - 1, "v": -1})
    assert all_points(server, "k9-0", "v")[0] == (T0 - 1, -1)


# -- (2) SIGTERM restart ---------------------------------------------------------------------------

def test_restart_after_sigterm_keeps_latest_values_and_raw_points(server):
    devices = populate(server)
    before = snapshot(server, devices)
    assert before["dur-a"]["t"][10] == (T0 + 10_000, -1.0)
    assert len(before["dur-d"]["x"]) == 20_000
    assert before["dur-b"]["latest"]["on"]["value"] == 1
    server.restart()
    assert snapshot(server, devices) == before
    # Data written after the first restart joins what was recovered; a second restart keeps both.
    ingest(server, {"device_id": "dur-a", "ts": T0 + 200_000, "t": 99.5})
    before["dur-a"]["t"].append((T0 + 200_000, 99.5))
    before["dur-a"]["latest"]["t"] = {"value": 99.5, "ts": "2026-01-01T00:03:20.000Z"}
    server.restart()
    assert snapshot(server, devices) == before


# -- (3) torn WAL tail -----------------------------------------------------------------------------

def newest_wal_segment(data_dir: Path) -> Path:
    wal_dir = data_dir / "tsdb" / "wal"
    segments = sorted(p for p in wal_dir.iterdir() if p.is_file())
    assert segments, f"no WAL segment in {wal_dir}"
    return segments[-1]


def log_since_last_start(server) -> str:
    return server.log().rsplit("\n=== ", 1)[-1]


def cut_warnings(text: str) -> list[str]:
    words = ("cut", "torn", "truncat", "corrupt", "dropped")
    return [line for line in text.splitlines()
            if ("warn" in line.lower()) and "wal" in line.lower()
            and any(w in line.lower() for w in words)]


@pytest.mark.parametrize("stop_with", ["sigterm", "sigkill"])
@pytest.mark.parametrize("garbage", [
    pytest.param(b"\x00garbage after the last record \xff\xfe", id="text"),
    pytest.param(b"\x10\x00\x00\x00\xde\xad\xbe\xef\x05\x00\x00", id="partial-record-header"),
    pytest.param(b"\x08\x00\x00\x00" + b"\x00" * 4 + b"\x99" * 8 + b"\x01\x02", id="short-payload"),
])
def test_torn_wal_tail_is_cut_with_a_warning_and_earlier_data_is_intact(start_server, stop_with,
                                                                        garbage):
    server = start_server()
    devices = populate(server)
    before = snapshot(server, devices)
    if stop_with == "sigterm":
        assert server.stop(signal.SIGTERM) == 0
    else:
        server.kill()
    segment = newest_wal_segment(server.data_dir)
    with open(segment, "ab") as f:
        f.write(garbage)

    server.start()  # must become ready
    assert server.get("/ready").status == 200
    warnings = cut_warnings(log_since_last_start(server))
    assert warnings, ("no warning about cutting the WAL tail in the log:\n"
                      + log_since_last_start(server))
    assert snapshot(server, devices) == before
    # It keeps working, and the repaired log does not complain again.
    ingest(server, {"device_id": "dur-a", "ts": T0 + 500_000, "t": 7.0})
    server.restart()
    assert not cut_warnings(log_since_last_start(server)), log_since_last_start(server)
    assert all_points(server, "dur-a", "t")[-1] == (T0 + 500_000, 7.0)
    assert all_points(server, "dur-d", "x") == before["dur-d"]["x"]


# -- (4) relaxed fsync policies --------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["none", "interval"])
def test_relaxed_fsync_policies_still_answer_and_store(start_server, policy):
    server = start_server("--fsync", policy)
    devices = populate(server)
    before = snapshot(server, devices)
    assert len(before["dur-d"]["x"]) == 20_000
    assert len(before["dur-c"]["env.temp"]) == 200
    assert before["dur-a"]["latest"]["t"] == {"value": 49.5, "ts": "2026-01-01T00:01:39.000Z"}
    server.restart()  # a clean stop flushes whatever the policy left in memory
    assert snapshot(server, devices) == before


# -- config pushed while a persistent MQTT session is away ----------------------------------------

@pytest.mark.parametrize("version", [4, 5], ids=["mqtt311", "mqtt5"])
@pytest.mark.parametrize("how", ["stay_up", "kill9"])
def test_config_changed_while_a_persistent_session_is_away_is_delivered_on_reconnect(
        start_server, version, how):
    """The device subscribed with a persistent session, went away, its config changed: on
    reconnecting (after a kill -9 of the server in between, too) it gets session present and
    the new config without subscribing again."""
    from mqtt_harness import PUBLISH, start_mqtt_server
    from test_mqtt_09_sessions import (parse_publish, persistent_connect, puback_packet,
                                       subscribe_packet)
    server = start_mqtt_server(start_server)
    dev = f"cfg-away-{version}-{how}"
    server.create_device(dev, config={"a": 1})
    raw, present = persistent_connect(server.mqtt_port, version, dev)
    assert not present
    raw.send(subscribe_packet(version, f"devices/{dev}/config"))
    first = raw.read_packet()
    while first is not None and first[0] != PUBLISH:  # the SUBACK
        first = raw.read_packet()
    topic, payload, _, _, pid = parse_publish(version, first)
    assert (topic, payload) == (f"devices/{dev}/config", {"a": 1})
    raw.send(puback_packet(pid))
    time.sleep(0.2)
    raw.close()
    time.sleep(0.2)
    assert server.patch(f"/api/v1/devices/{dev}", {"config": {"a": 2}}).status == 200
    if how == "kill9":
        server.kill()
        server.start()
    raw, present = persistent_connect(server.mqtt_port, version, dev)
    try:
        assert present, "the session was forgotten"
        topic, payload, qos, _, pid = parse_publish(version, raw.read_packet())  # no SUBSCRIBE
        assert (topic, payload, qos) == (f"devices/{dev}/config", {"a": 2}, 1)
        raw.send(puback_packet(pid))
        assert raw.read_packet(timeout=1) is None, "more than the new config arrived"
    finally:
        raw.close()
