"""Sealed storage seen from outside: telemetry is written into block files and the WAL is cut
behind it; backfilled days are compacted with rollups, so hourly aggregates match the raw
points and survive raw retention; restarts read everything back from blocks."""

import math
import socket
import time

from fleetpulse_harness import rfc3339_to_epoch, wait_until

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1767225600000  # 2026-01-01T00:00:00Z: long sealed by now
FAST_SEAL = ("--flush-interval", "1s", "--seal-after", "1s")


def to_ms(text: str) -> int:
    return int(round(rfc3339_to_epoch(text) * 1000))


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def backfill(server, device: str, days: int, step_ms: int = 60_000) -> dict[int, float]:
    """Writes one point per step over `days` days; returns {ts: value}."""
    points = {}
    batch = []
    for i in range(days * DAY // step_ms):
        ts = T0 + i * step_ms
        value = round(20 + 5 * math.sin(i / 50) + (i % 7) * 0.25, 2)
        points[ts] = value
        batch.append({"device_id": device, "ts": ts, "temperature": value})
        if len(batch) == 2000:
            assert server.post("/api/v1/telemetry", batch).status == 200
            batch = []
    if batch:
        assert server.post("/api/v1/telemetry", batch).status == 200
    return points


def tsdb_health(server) -> dict:
    return server.get("/api/v1/health/detailed").json["components"]["tsdb"]


def hourly(server, device: str, start: int, end: int) -> dict:
    resp = server.get(f"/api/v1/devices/{device}/aggregates?metric=temperature&interval=1h"
                      f"&agg=min,max,sum,count,first,last&start={iso(start)}&end={iso(end)}")
    assert resp.status == 200, resp
    return {to_ms(b["ts"]): b for b in resp.json["buckets"]}


def expected_hourly(points: dict[int, float], start: int, end: int) -> dict:
    out = {}
    for ts in sorted(points):
        if start <= ts <= end:
            b = out.setdefault(ts - ts % HOUR, [])
            b.append(points[ts])
    return out


def assert_hourly_matches(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for start, values in want.items():
        b = got[start]
        assert b["count"] == len(values), start
        assert b["min"] == min(values) and b["max"] == max(values), start
        assert abs(b["sum"] - sum(values)) < 1e-6, start
        assert b["first"] == values[0] and b["last"] == values[-1], start


def raw_points(server, device: str, start: int, end: int) -> list:
    resp = server.get(f"/api/v1/devices/{device}/telemetry?metric=temperature&limit=100000"
                      f"&start={iso(start)}&end={iso(end)}")
    assert resp.status == 200, resp
    return [(to_ms(p["ts"]), p["value"]) for p in resp.json["points"]]


def test_backfilled_days_are_sealed_compacted_and_read_back_after_restart(start_server):
    server = start_server(*FAST_SEAL)
    points = backfill(server, "bf-1", days=3)
    wait_until(lambda: tsdb_health(server)["compactions"] >= 3 and
               tsdb_health(server)["blocks"] == 9, timeout=40,
               message="three day partitions compacted")
    health = tsdb_health(server)
    assert health["blocks"] == 9, health  # per day: raw + 1m + 1h
    assert health["block_errors"] == 0
    blocks_dir = server.data_dir / "tsdb" / "blocks"
    assert len(list(blocks_dir.glob("*.blk"))) == 9
    # Disk: the blocks hold 3 days x 1440 points in far fewer bytes than their JSON.
    assert health["block_bytes"] < 3 * 1440 * 6, health
    wal = server.get("/api/v1/health/detailed").json["components"]["wal"]
    assert wal["segments"] <= 2, wal

    start, end = T0, T0 + 3 * DAY - 1
    assert_hourly_matches(hourly(server, "bf-1", start, end), expected_hourly(points, start, end))
    assert raw_points(server, "bf-1", T0 + DAY, T0 + DAY + HOUR - 1) == \
        [(ts, points[ts]) for ts in sorted(points) if T0 + DAY <= ts < T0 + DAY + HOUR]

    server.kill()
    server.start()
    assert_hourly_matches(hourly(server, "bf-1", start, end), expected_hourly(points, start, end))
    assert len(raw_points(server, "bf-1", start, end)) == len(points)
    latest = server.get("/api/v1/devices/bf-1/latest").json["values"]["temperature"]
    assert to_ms(latest["ts"]) == max(points)


def test_late_points_and_overwrites_land_in_sealed_days(start_server):
    server = start_server(*FAST_SEAL)
    points = backfill(server, "bf-2", days=1, step_ms=300_000)
    wait_until(lambda: tsdb_health(server)["compactions"] >= 1, timeout=30,
               message="the day compacted")
    # A device uploads what it buffered: new points in the sealed day, and one overwrite.
    late = [{"device_id": "bf-2", "ts": T0 + 150_000 + i * 300_000, "temperature": 99.5}
            for i in range(20)]
    late.append({"device_id": "bf-2", "ts": T0, "temperature": -7.25})
    assert server.post("/api/v1/telemetry", late).status == 200
    for p in late:
        points[p["ts"]] = p["temperature"]
    want = [(ts, points[ts]) for ts in sorted(points)]
    assert raw_points(server, "bf-2", T0, T0 + DAY - 1) == want  # merged before sealing
    wait_until(lambda: tsdb_health(server)["compactions"] >= 2, timeout=30,
               message="the day compacted again with the late points")
    assert raw_points(server, "bf-2", T0, T0 + DAY - 1) == want
    assert_hourly_matches(hourly(server, "bf-2", T0, T0 + DAY - 1),
                          expected_hourly(points, T0, T0 + DAY - 1))


def test_raw_retention_keeps_hourly_rollups(start_server):
    server = start_server(*FAST_SEAL, "--retention-raw", "30d")
    points = backfill(server, "bf-3", days=2, step_ms=600_000)
    # The days are long past 30 days old: compacted, then their raw blocks expire.
    wait_until(lambda: tsdb_health(server)["compactions"] >= 2 and
               not raw_points(server, "bf-3", T0, T0 + 2 * DAY - 1),
               timeout=40, message="raw points expired")
    assert_hourly_matches(hourly(server, "bf-3", T0, T0 + 2 * DAY - 1),
                          expected_hourly(points, T0, T0 + 2 * DAY - 1))


def test_admin_flush_seals_memory_into_blocks_and_answers_when_durable(start_server):
    server = start_server()  # default flush interval (10 min): nothing is sealed by itself
    now = int(time.time() * 1000)
    batch = [{"device_id": "fl-1", "ts": now - 1000 * i, "temperature": i % 40}
             for i in range(3000)]
    assert server.post("/api/v1/telemetry", batch).status == 200
    assert tsdb_health(server)["blocks"] == 0
    resp = server.post("/api/v1/admin/flush")
    assert resp.status == 200, resp
    assert resp.json["flushed"] is True and resp.json["blocks"] >= 1
    assert tsdb_health(server)["blocks"] == resp.json["blocks"]
    # Nothing left to seal: answers at once, same blocks.
    again = server.post("/api/v1/admin/flush")
    assert again.status == 200 and again.json["blocks"] == resp.json["blocks"]
    server.kill()
    server.start()
    assert len(raw_points(server, "fl-1", now - 3_600_000, now)) == 3000


def test_flushes_keep_up_while_compaction_runs_between_them(start_server):
    # Every 1000 points the head is sealed, and every flush of these old days is followed by
    # a compaction: a freeze that happens during a compaction must still be written (this
    # once was lost, leaving the frozen layer in memory and every later flush waiting).
    server = start_server("--flush-points", "1000", "--seal-after", "1s")
    sent = 0
    for round_ in range(30):
        batch = [{"device_id": f"kc-{i % 7}", "ts": T0 + (round_ * 2000 + i) * 30_000,
                  "temperature": i % 50} for i in range(2000)]
        assert server.post("/api/v1/telemetry", batch).status == 200
        sent += len(batch)
    resp = server.post("/api/v1/admin/flush")
    assert resp.status == 200, resp
    health = tsdb_health(server)
    assert health["flushes"] >= 3, health
    assert health["compactions"] >= 1, health
    total = sum(len(raw_points(server, f"kc-{d}", T0, T0 + 30 * DAY)) for d in range(7))
    assert total == sent


# -- streamed export -------------------------------------------------------------------------


def export_request(port: int, query: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"GET /api/v1/export?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        data = s.recv(1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_export_streams_blocks_and_head_in_order_to_a_slow_reader(start_server):
    server = start_server()
    # Two days of points: one sealed into blocks, the second still in memory.
    first = backfill(server, "ex-big", days=1, step_ms=1000)
    assert server.post("/api/v1/admin/flush").status == 200
    batch, second = [], {}
    for i in range(50_000):
        ts = T0 + DAY + i * 1000
        second[ts] = float(i % 100)
        batch.append({"device_id": "ex-big", "ts": ts, "temperature": second[ts]})
    for k in range(0, len(batch), 5000):
        assert server.post("/api/v1/telemetry", batch[k:k + 5000]).status == 200
    want = {**first, **second}

    s = export_request(server.port, f"format=csv&device_id=ex-big&start={iso(T0)}"
                                    f"&end={iso(T0 + 3 * DAY)}")
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert b"content-length" not in head.split(b"\r\n\r\n")[0].lower()
    time.sleep(1.0)  # a slow reader: the server waits instead of buffering everything
    assert server.get("/health").status == 200  # and keeps serving meanwhile
    body = (head + read_all(s)).split(b"\r\n\r\n", 1)[1].decode()
    s.close()
    lines = body.splitlines()
    assert lines[0] == "device_id,metric,ts,value"
    got = [(to_ms(line.split(",")[2]), float(line.split(",")[3])) for line in lines[1:]]
    assert got == sorted(want.items())


def test_clients_that_leave_mid_export_free_their_slot(start_server):
    server = start_server()
    backfill(server, "ex-gone", days=2, step_ms=1000)
    for _ in range(6):  # more than the 4 export slots
        s = export_request(server.port, f"format=ndjson&start={iso(T0)}&end={iso(T0 + 3 * DAY)}")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
        time.sleep(0.3)
    s = export_request(server.port, f"format=ndjson&device_id=ex-gone&start={iso(T0)}"
                                    f"&end={iso(T0 + 3 * DAY)}")
    data = read_all(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert data.count(b"\n{") + 1 >= 2 * 86_400


def test_last_seen_from_telemetry_survives_kill_9_after_the_wal_is_cut(start_server):
    # Last-seen times from telemetry reach the catalog lazily (every few seconds) because the
    # WAL can rebuild them; a checkpoint that cuts the WAL must save them first.
    server = start_server("--flush-interval", "1s")
    assert server.post("/api/v1/telemetry", {"device_id": "ls-1", "temperature": 1}).status == 200
    time.sleep(6)  # the registration and its first last-seen are written
    before = server.get("/api/v1/devices/ls-1").json["last_seen"]
    sent_at = time.time()
    assert server.post("/api/v1/telemetry", {"device_id": "ls-1", "temperature": 2}).status == 200
    flushes = tsdb_health(server)["flushes"]
    wait_until(lambda: tsdb_health(server)["flushes"] > flushes, timeout=10,
               message="the point sealed and the WAL cut")
    time.sleep(0.3)
    server.kill()
    server.start()
    after = server.get("/api/v1/devices/ls-1").json["last_seen"]
    assert after != before
    assert rfc3339_to_epoch(after) >= sent_at - 0.5


def block_bytes_per_value(server, series: int, points: int) -> float:
    """`series` random-walk series (4 metrics a device) of `points` readings spread over one
    day, flushed into blocks: the bytes of tsdb/blocks per value."""
    import random
    step = DAY // points
    batch = []
    for i in range(series):
        rng, v = random.Random(i), 20.0
        for k in range(points):
            v += rng.gauss(0, 0.3)
            batch.append({"device_id": f"dev-{i // 4:05d}", "metric": ["temp", "hum", "volt",
                          "rssi"][i % 4], "ts": T0 + k * step, "value": round(v, 1)})
        if len(batch) >= 5000:
            assert server.post("/api/v1/telemetry", batch).status == 200
            batch = []
    if batch:
        assert server.post("/api/v1/telemetry", batch).status == 200
    assert server.post("/api/v1/admin/flush").status == 200
    # The day's blocks only (format 2 header: partition start at byte 32): the server's own
    # series (KPI history) of today are not part of the measure.
    import struct
    days = [f for f in (server.data_dir / "tsdb" / "blocks").glob("*.blk")
            if struct.unpack_from("<q", f.read_bytes(), 32)[0] == T0]
    assert days, "no block of the day"
    return sum(f.stat().st_size for f in days) / (series * points)


def test_block_format_2_costs_no_more_bytes_per_value_than_format_1(start_server):
    """Block files describe themselves (format 2: group frames naming their series) at no
    extra cost per value. The bounds are format 1's measured sizes of the same data (main
    before the change; docs/benchmarks.md "Block format version 2"), so a regression that
    makes blocks bigger fails here. Many short series are the worst case: the series keys
    weigh the most there."""
    server = start_server("--flush-interval", "1h", "--seal-after", "3650d")
    few_points = block_bytes_per_value(server, 2000, 8)
    assert few_points <= 4.4031, f"{few_points:.4f} bytes/value (format 1: 4.4031)"
    server.stop()
    server = start_server("--flush-interval", "1h", "--seal-after", "3650d")
    day_per_minute = block_bytes_per_value(server, 400, 1440)
    assert day_per_minute <= 0.7224, f"{day_per_minute:.4f} bytes/value (format 1: 0.7224)"
