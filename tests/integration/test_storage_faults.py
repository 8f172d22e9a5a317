"""Recovery never deletes what it cannot read. Real files are damaged between runs of the real
binary — a deleted CHECKPOINT, a flipped byte inside a WAL record of the newest and of an older
segment, flipped bytes in a block's chunk, index and footer, a truncated block — and after each:
every reading still readable on disk is served (counted against what was written), the damage
is reported (detailed health `degraded` with a reason, /metrics), nothing is deleted (damaged
files sit in tsdb/quarantine), queries over lost data say `"partial":true`, `fleetpulse check`
names the damaged file, and `fleetpulse repair` leaves a store that `check` calls clean and
that serves the same readings. Acknowledging the damage (admin route) clears the report."""

import json
import struct
import time
from pathlib import Path

from fleetpulse_harness import run_cli, urlquote, wait_until

DAY = 86_400_000
T0 = 1767225600000  # 2026-01-01T00:00:00Z
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
DEVICES = ["fault-a", "fault-b", "fault-c"]
PER_DAY = 480  # one point every 3 minutes
DAYS = 3
BLOCK_FLAGS = ("--flush-interval", "1s", "--seal-after", "3650d")
WAL_FLAGS = ("--flush-interval", "1h")


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


# -- data --------------------------------------------------------------------------------------

def write_days(server) -> int:
    """DAYS days of PER_DAY points for each device, one request per (device, day)."""
    n = 0
    for d in DEVICES:
        for day in range(DAYS):
            batch = [{"device_id": d, "ts": T0 + day * DAY + i * 180_000, "metric": "temp",
                      "value": day * 1000 + i / 4} for i in range(PER_DAY)]
            resp = server.post("/api/v1/telemetry", batch)
            assert resp.status == 200, resp
            n += len(batch)
    return n


def write_batches(server, device: str, batches: int, first: int = 0, size: int = 100) -> int:
    """`batches` requests of `size` points of one series (each request is one WAL record)."""
    for b in range(first, first + batches):
        batch = [{"device_id": device, "ts": T0 + (b * size + i) * 1000, "metric": "temp",
                  "value": b + i / 1000} for i in range(size)]
        resp = server.post("/api/v1/telemetry", batch)
        assert resp.status == 200, resp
    return batches * size


def query(server, device: str, start: str = "2000-01-01T00:00:00Z",
          end: str = "2100-01-01T00:00:00Z") -> dict:
    resp = server.get(f"/api/v1/devices/{device}/telemetry?metric=temp&limit=100000"
                      f"&start={start}&end={end}")
    assert resp.status in (200, 404), resp
    return resp.json if resp.status == 200 else {"points": []}


def served(server, devices=DEVICES) -> int:
    return sum(len(query(server, d)["points"]) for d in devices)


def day_query(server, device: str, day: int) -> dict:
    return query(server, device, iso(T0 + day * DAY), iso(T0 + (day + 1) * DAY - 1))


def storage_health(server) -> dict:
    return server.get("/api/v1/health/detailed").json["components"]["storage"]


def metric_value(server, name: str) -> float:
    text = server.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def acknowledge(server) -> dict:
    resp = server.post("/api/v1/admin/storage/acknowledge-damage", {})
    assert resp.status == 200, resp
    return resp.json


def check(data_dir: Path):
    return run_cli(["check", "--data-dir", str(data_dir)], timeout=60)


def repair(data_dir: Path):
    return run_cli(["repair", "--data-dir", str(data_dir)], timeout=120)


def quarantine(data_dir: Path) -> Path:
    return data_dir / "tsdb" / "quarantine"


def assert_damage_reported(server, words: str) -> None:
    st = storage_health(server)
    assert st["state"] == "degraded", st
    assert words.lower() in st["reason"].lower(), st
    assert st["damage_unacknowledged"] >= 1, st
    assert metric_value(server, "fleetpulse_storage_damage_unacknowledged") >= 1


def assert_check_clean(data_dir: Path) -> None:
    r = check(data_dir)
    assert r.returncode == 0, f"check after repair is not clean:\n{r.stdout}\n{r.stderr}"


def assert_check_names(data_dir: Path, name: str) -> None:
    r = check(data_dir)
    assert r.returncode != 0, f"check found nothing:\n{r.stdout}\n{r.stderr}"
    assert name in r.stdout, f"check does not name {name}:\n{r.stdout}"


def repair_and_recheck(start_server, server, data_dir: Path, want: int):
    server.stop()
    r = repair(data_dir)
    assert r.returncode == 0, f"repair failed:\n{r.stdout}\n{r.stderr}"
    assert_check_clean(data_dir)
    again = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert served(again) == want
    return again


# -- files -------------------------------------------------------------------------------------

def wal_records(segment: Path) -> list[tuple[int, int, int]]:
    """(offset, payload length, LSN) of every record of a WAL segment."""
    data = segment.read_bytes()
    out, at = [], 16
    while at + 16 <= len(data):
        length, _crc, lsn = struct.unpack_from("<IIQ", data, at)
        if at + 16 + length > len(data):
            break
        out.append((at, length, lsn))
        at += 16 + length
    return out


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def segments(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "tsdb" / "wal").glob("wal-*.log"))


def blocks(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "tsdb" / "blocks").glob("*.blk"))


def footer(path: Path) -> dict:
    data = path.read_bytes()
    f = data[-64:]
    index_offset, index_len = struct.unpack_from("<QI", f, 0)
    partition_start, = struct.unpack_from("<q", f, 40)
    return {"index_offset": index_offset, "index_len": index_len,
            "partition_start": partition_start, "size": len(data)}


def uvarint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, at


def layout(path: Path) -> dict:
    """Where the parts of a version-2 block lie (docs/formats/block.md): its first group frame
    (a block of three small series has one group) and so where the payloads start, and the end
    frame (no replaced ids here) and so where the payloads end."""
    data = path.read_bytes()
    assert struct.unpack_from("<H", data, 8)[0] == 2, "not a version-2 block"
    assert data[56:60] == b"FPSF", "no group frame after the header"
    length, body = uvarint(data, 60)
    assert data[body] == 1, "not a group frame"
    end_frame = footer(path)["index_offset"] - 12  # magic, length, kind, count, 0 ids, crc
    assert data[end_frame:end_frame + 4] == b"FPSF" and data[end_frame + 5] == 2
    return {"group_frame": 56, "payloads": body + length + 4, "payloads_end": end_frame}


def sealed_store(start_server):
    """A server whose DAYS x DEVICES readings are in raw blocks only (WAL cut behind them)."""
    server = start_server(*BLOCK_FLAGS)
    total = write_days(server)

    def sealed():
        h = server.get("/api/v1/health/detailed").json["components"]
        return h["tsdb"]["blocks"] >= DAYS and h["wal"]["bytes"] < 4096
    wait_until(sealed, timeout=30, message="readings sealed into blocks, WAL cut")
    assert served(server) == total
    server.stop()
    assert_check_clean(server.data_dir)
    return server, total


def middle_block(data_dir: Path) -> tuple[Path, int]:
    """The block of the middle day, and that day's index."""
    for b in blocks(data_dir):
        day = (footer(b)["partition_start"] - T0) // DAY
        if day == 1:
            return b, day
    raise AssertionError(f"no block of day 1 in {blocks(data_dir)}")


# -- metadata ----------------------------------------------------------------------------------

def test_deleted_checkpoint_is_rebuilt_and_no_block_is_deleted(start_server):
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    before = {b.name for b in blocks(data_dir)}
    (data_dir / "tsdb" / "CHECKPOINT").unlink()
    assert_check_names(data_dir, "CHECKPOINT")

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert {b.name for b in blocks(data_dir)} >= before, "a block was deleted"
    assert served(server) == total
    assert_damage_reported(server, "CHECKPOINT")
    assert (data_dir / "tsdb" / "CHECKPOINT").exists(), "CHECKPOINT not rebuilt"

    # Nothing is lost over a further restart either (the rebuilt checkpoint is sound).
    server.kill()
    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert served(server) == total
    server = repair_and_recheck(start_server, server, data_dir, total)
    assert acknowledge(server)["acknowledged"] >= 1
    assert storage_health(server)["state"] == "ok"


# -- WAL -----------------------------------------------------------------------------------------

def test_flipped_byte_in_a_middle_wal_record_costs_only_that_record(start_server):
    server = start_server(*WAL_FLAGS)
    total = write_batches(server, "wal-a", 40)
    server.kill()
    data_dir = server.data_dir
    [segment] = segments(data_dir)
    records = [r for r in wal_records(segment) if r[1] > 1000]
    assert len(records) >= 40
    at, length, _ = records[len(records) // 2]
    flip(segment, at + 16 + length // 2)
    assert_check_names(data_dir, segment.name)

    server = start_server(*WAL_FLAGS, data_dir=data_dir)
    got = served(server, ["wal-a"])
    assert total - 100 <= got < total, f"served {got} of {total}: more than one record lost"
    assert_damage_reported(server, "WAL")
    assert metric_value(server, "fleetpulse_wal_records_skipped_total") >= 1
    assert (quarantine(data_dir) / segment.name).exists(), "damaged segment not kept"
    # Everything written after the damage is still there, and new writes are kept.
    assert query(server, "wal-a")["points"][-1]["value"] == 39 + 99 / 1000
    write_batches(server, "wal-a", 5, first=40)
    server.kill()
    server = start_server(*WAL_FLAGS, data_dir=data_dir)
    assert served(server, ["wal-a"]) == got + 500
    ack = acknowledge(server)
    assert ack["acknowledged"] >= 1
    assert storage_health(server)["state"] == "ok"
    assert metric_value(server, "fleetpulse_storage_damage_unacknowledged") == 0

    server.stop()
    r = repair(data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_check_clean(data_dir)
    server = start_server(*WAL_FLAGS, data_dir=data_dir)
    assert served(server, ["wal-a"]) == got + 500


def test_flipped_byte_in_an_older_wal_segment_keeps_the_later_segments(start_server):
    server = start_server(*WAL_FLAGS)
    total = write_batches(server, "wal-b", 30)
    server.kill()
    server = start_server(*WAL_FLAGS, data_dir=server.data_dir)  # the next commit rolls
    total += write_batches(server, "wal-b", 30, first=30)
    server.kill()
    data_dir = server.data_dir
    segs = segments(data_dir)
    assert len(segs) >= 2, segs
    older = segs[0]
    records = [r for r in wal_records(older) if r[1] > 1000]
    at, length, _ = records[len(records) // 2]
    flip(older, at + 16 + length // 2)
    later = {s.name: s.read_bytes() for s in segs[1:]}
    assert_check_names(data_dir, older.name)

    server = start_server(*WAL_FLAGS, data_dir=data_dir)
    got = served(server, ["wal-b"])
    assert total - 100 <= got < total, f"served {got} of {total}"
    for name in later:
        assert (data_dir / "tsdb" / "wal" / name).exists(), f"later segment {name} removed"
    assert_damage_reported(server, "WAL")
    assert metric_value(server, "fleetpulse_wal_records_skipped_total") >= 1
    assert (quarantine(data_dir) / older.name).exists()


def test_torn_wal_tail_is_cut_silently(start_server):
    server = start_server(*WAL_FLAGS)
    total = write_batches(server, "wal-c", 10)
    server.kill()
    [segment] = segments(server.data_dir)
    with open(segment, "ab") as f:
        f.write(struct.pack("<IIQ", 5000, 1234, 999) + b"\x00" * 100)  # a torn last record
    server = start_server(*WAL_FLAGS, data_dir=server.data_dir)
    assert served(server, ["wal-c"]) == total
    assert storage_health(server)["state"] == "ok", "a torn tail is normal, not damage"


# -- blocks --------------------------------------------------------------------------------------

def assert_kept_in_quarantine(data_dir: Path, name: str, damaged: bytes) -> None:
    kept = quarantine(data_dir) / name
    assert kept.exists(), f"{name} is not in quarantine: {list(quarantine(data_dir).iterdir())}"
    assert kept.read_bytes() == damaged, "the quarantined file is not the damaged original"


def test_flipped_byte_in_a_chunk_loses_only_that_series_day_and_says_partial(start_server):
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    flip(block, layout(block)["payloads"] + 5)  # inside the first payload
    damaged = block.read_bytes()
    assert_check_names(data_dir, block.name)

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert served(server) == total - PER_DAY
    partial = [d for d in DEVICES if day_query(server, d, day).get("partial")]
    assert len(partial) == 1, partial
    assert len(day_query(server, partial[0], day)["points"]) == 0
    assert day_query(server, partial[0], day)["partial_reason"]
    for d in DEVICES:
        for other in (0, 2):
            assert not day_query(server, d, other).get("partial")
        if d not in partial:
            assert len(day_query(server, d, day)["points"]) == PER_DAY
    assert_damage_reported(server, block.name)
    components = server.get("/api/v1/health/detailed").json["components"]
    assert components["tsdb"]["block_errors"] >= 1
    assert components["tsdb"]["quarantined"] >= 1
    assert_kept_in_quarantine(data_dir, block.name, damaged)

    server = repair_and_recheck(start_server, server, data_dir, total - PER_DAY)
    assert day_query(server, partial[0], day).get("partial")
    acknowledge(server)
    assert not day_query(server, partial[0], day).get("partial")
    assert storage_health(server)["state"] == "ok"


def assert_all_served_and_damage_reported(server, data_dir: Path, block: Path, damaged: bytes,
                                          total: int, day: int) -> None:
    """Nothing was lost: every reading is served, no answer says partial, and yet the damage is
    reported and the damaged file kept."""
    assert served(server) == total
    for d in DEVICES:
        assert len(day_query(server, d, day)["points"]) == PER_DAY, d
        assert not day_query(server, d, day).get("partial"), d
    assert_damage_reported(server, block.name)
    assert_kept_in_quarantine(data_dir, block.name, damaged)
    assert not block.exists()


def test_flipped_byte_in_a_block_index_loses_nothing_the_frames_name_every_series(start_server):
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    f = footer(block)
    flip(block, f["index_offset"] + f["index_len"] // 2)
    damaged = block.read_bytes()
    assert_check_names(data_dir, block.name)

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert_all_served_and_damage_reported(server, data_dir, block, damaged, total, day)
    repair_and_recheck(start_server, server, data_dir, total)


def test_flipped_byte_in_a_block_footer_loses_nothing(start_server):
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    flip(block, footer(block)["size"] - 64 + 2)  # the index's offset: the index is lost too
    damaged = block.read_bytes()
    assert_check_names(data_dir, block.name)

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert_all_served_and_damage_reported(server, data_dir, block, damaged, total, day)
    repair_and_recheck(start_server, server, data_dir, total)


def test_flipped_byte_in_a_group_frame_loses_only_that_groups_series_day(start_server):
    """A group frame names its series; damaged, its group's readings (here all three series of
    that day: a group holds up to 64 KiB of payloads) are lost and every answer of that day says
    so; the other days are whole and clean."""
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    flip(block, layout(block)["group_frame"] + 8)
    damaged = block.read_bytes()
    assert_check_names(data_dir, block.name)

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    assert served(server) == total - PER_DAY * len(DEVICES)
    for d in DEVICES:
        assert len(day_query(server, d, day)["points"]) == 0
        assert day_query(server, d, day).get("partial"), d
        assert not day_query(server, d, 0).get("partial"), d
        assert len(day_query(server, d, 2)["points"]) == PER_DAY
    assert_damage_reported(server, block.name)
    assert_kept_in_quarantine(data_dir, block.name, damaged)
    repair_and_recheck(start_server, server, data_dir, total - PER_DAY * len(DEVICES))


def test_truncated_block_serves_every_series_before_the_cut_and_its_day_says_partial(
        start_server):
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    data = block.read_bytes()
    cut = layout(block)["payloads_end"] - 2  # inside the last series' payload
    block.write_bytes(data[:cut])
    damaged = block.read_bytes()
    r = check(data_dir)
    assert r.returncode != 0 and block.name in r.stdout, r.stdout
    assert "2 of 3 series readable" in r.stdout, r.stdout

    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    want = total - PER_DAY
    assert served(server) == want
    counts = sorted(len(day_query(server, d, day)["points"]) for d in DEVICES)
    assert counts == [0, PER_DAY, PER_DAY], counts
    for d in DEVICES:
        # What came after the cut is unknown; the header still says which day it was.
        assert day_query(server, d, day).get("partial"), d
        assert not day_query(server, d, 0).get("partial"), d
    assert_damage_reported(server, block.name)
    assert_kept_in_quarantine(data_dir, block.name, damaged)
    assert metric_value(server, "fleetpulse_storage_quarantined_files") >= 1
    server = repair_and_recheck(start_server, server, data_dir, want)
    acknowledge(server)
    assert not day_query(server, DEVICES[0], day).get("partial")


def test_storage_errors_never_show_server_paths(start_server):
    server, _ = sealed_store(start_server)
    data_dir = server.data_dir
    block, _ = middle_block(data_dir)
    flip(block, layout(block)["payloads"] + 5)
    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)
    bodies = [str(server.get("/api/v1/health/detailed").json["components"]["storage"]),
              server.get(f"/api/v1/devices/{DEVICES[0]}/telemetry?metric=temp&{WIDE}").text,
              server.get(f"/api/v1/devices/{DEVICES[0]}/aggregates?metric=temp&interval=1h&"
                         f"{WIDE}").text]
    for body in bodies:
        assert str(data_dir) not in body, f"an answer shows a server path: {body[:400]}"


def test_disk_threshold_is_relative_to_the_volume_and_configurable(start_server):
    server = start_server()
    disk = server.get("/api/v1/health/detailed").json["components"]["disk"]
    assert disk["critical_below_bytes"] == min(disk["total_bytes"] * 5 // 100, 1 << 30), disk
    server.stop()
    # A size bound larger than 5 % of the volume: the relative one decides.
    server = start_server("--disk-low-free", "100000GiB", data_dir=server.data_dir)
    disk = server.get("/api/v1/health/detailed").json["components"]["disk"]
    assert abs(disk["critical_below_bytes"] - disk["total_bytes"] * 0.05) <= 1, disk
    server.stop()
    server = start_server("--disk-low-free", "1KiB", data_dir=server.data_dir)
    disk = server.get("/api/v1/health/detailed").json["components"]["disk"]
    assert disk["critical_below_bytes"] == 1024, disk
    assert disk["state"] == "ok"


def test_every_read_over_lost_data_says_so(start_server):
    """Latest values, the fleet's latest values, exports (NDJSON and CSV), PromQL instant and
    range queries, KPI history and the fleet history (/api/v1/stats/history) say they may be short when a quarantined block covered what they read
    (PromQL with Prometheus' "warnings"); a range the damage did not touch answers clean, and
    acknowledging the damage clears every mark."""
    server, total = sealed_store(start_server)
    data_dir = server.data_dir
    block, day = middle_block(data_dir)
    d = DEVICES[0]
    # The group frame: that day's readings are lost, and whose they were is unknown, so every
    # read of that day may be short (KPI history, kept under internal keys, included).
    flip(block, layout(block)["group_frame"] + 8)
    server = start_server(*BLOCK_FLAGS, data_dir=data_dir)

    def marks() -> dict:
        out = {"latest": server.get(f"/api/v1/devices/{d}/latest").json.get("partial"),
               "fleet_latest": server.get("/api/v1/latest").json.get("partial")}
        nd = server.get(f"/api/v1/export?device_id={d}&{WIDE}&format=ndjson")
        assert nd.status == 200, nd
        lines = [json.loads(x) for x in nd.text.splitlines() if x]
        assert len([x for x in lines if "value" in x]) == PER_DAY * (DAYS - 1)
        out["export_ndjson"] = lines[-1].get("partial")
        out["export_header"] = nd.header("X-Fleetpulse-Partial")
        csv = server.get(f"/api/v1/export?device_id={d}&{WIDE}&format=csv")
        assert csv.status == 200, csv
        out["export_csv_header"] = csv.header("X-Fleetpulse-Partial")
        sel = urlquote(f'temp{{device_id="{d}"}}')
        t_day = (T0 + day * DAY + DAY // 2) / 1000
        inst = server.get(f"/prometheus/api/v1/query?query={sel}&time={t_day}")
        assert inst.status == 200 and inst.json["status"] == "success", inst
        out["promql_query"] = inst.json.get("warnings")
        rng = server.get(f"/prometheus/api/v1/query_range?query={sel}&start={T0 / 1000}"
                         f"&end={(T0 + DAYS * DAY) / 1000}&step=3600")
        assert rng.status == 200 and rng.json["status"] == "success", rng
        out["promql_range"] = rng.json.get("warnings")
        clean = server.get(f"/prometheus/api/v1/query_range?query={sel}&start={T0 / 1000}"
                           f"&end={(T0 + DAY // 2) / 1000}&step=3600")
        assert clean.status == 200 and clean.json["data"]["result"], clean
        out["promql_untouched_range"] = clean.json.get("warnings")
        kpi = server.get(f"/api/v1/kpis/history?device_id={d}&start={iso(T0 + day * DAY)}"
                         f"&end={iso(T0 + (day + 1) * DAY - 1)}")
        assert kpi.status == 200, kpi
        out["kpi_history"] = kpi.json.get("partial")
        fleet = server.get(f"/api/v1/stats/history?start={iso(T0)}&end={iso(T0 + DAYS * DAY)}")
        assert fleet.status == 200, fleet
        out["fleet_history"] = fleet.json.get("partial") and fleet.json["partial_reason"]
        untouched = server.get(f"/api/v1/stats/history?start={iso(T0)}&end={iso(T0 + DAY - 1)}")
        assert untouched.status == 200, untouched
        out["fleet_history_untouched_range"] = untouched.json.get("partial")
        return out

    got = marks()
    assert got["promql_untouched_range"] is None, got
    assert got["fleet_history_untouched_range"] is None, got
    del got["promql_untouched_range"], got["fleet_history_untouched_range"]
    assert block.name in got["fleet_history"], got
    assert all(got.values()), {k: v for k, v in got.items() if not v}
    assert any(block.name in w or "block" in w for w in got["promql_range"]), got
    acknowledge(server)
    assert not any(marks().values())
