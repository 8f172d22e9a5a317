"""Input limits against the real binary: one timestamp validation for heartbeats and telemetry,
size limits on names, types, locations, metadata and reported strings, device ids that are path
segments refused; the data directory private to the server's user and temporary files of
interrupted writes removed at start.
"""

from __future__ import annotations

import os
import stat

from fleetpulse_harness import assert_error


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_heartbeat_time_in_year_9999_is_refused_like_telemetry(server):
    for ts in ("9999-01-01T00:00:00Z", 253402300800000, "253402300800000", -1):
        hb = server.post("/api/v1/heartbeat", {"device_id": "h1", "ts": ts})
        body = assert_error(hb, 422)
        assert "out of range" in body["message"], (ts, body)
        tel = server.post("/api/v1/telemetry", {"device_id": "h1", "ts": ts, "v": 1})
        assert tel.status == 422, (ts, tel)
        assert "out of range" in tel.json["rejected"][0]["error"]
    # The same message for both: one validation.
    hb = server.post("/api/v1/heartbeat", {"device_id": "h1", "ts": "9999-01-01T00:00:00Z"})
    tel = server.post("/api/v1/telemetry", {"device_id": "h1", "ts": "9999-01-01T00:00:00Z", "v": 1})
    assert hb.json["error"]["message"] == tel.json["rejected"][0]["error"]
    # Times in range still work, in seconds too.
    assert server.post("/api/v1/heartbeat", {"device_id": "h1", "ts": 1767225600}).status == 200
    assert server.post("/api/v1/heartbeat",
                       {"device_id": "h1", "ts": "2026-01-01T00:00:00Z"}).status == 200


def test_oversized_names_locations_and_metadata_get_422(server):
    big = "x" * 300
    for fields in ({"name": big}, {"type": big}, {"location": big}):
        resp = server.post("/api/v1/devices", {"device_id": "s1", **fields})
        body = assert_error(resp, 422)
        assert "256 bytes" in body["message"], body
    for fields in ({"name": big}, {"location": big}, {"location": {"lat": 1, "lon": 2, "name": big}}):
        resp = server.post("/api/v1/heartbeat", {"device_id": "s1", **fields})
        assert_error(resp, 422)
    huge = {"blob": "y" * (70 * 1024)}
    body = assert_error(server.post("/api/v1/devices", {"device_id": "s1", "metadata": huge}), 422)
    assert "64 KiB" in body["message"], body
    assert_error(server.post("/api/v1/devices", {"device_id": "s1", "config": huge}), 422)
    # 1 MB name and 5 MB metadata, as the red team sent.
    assert_error(server.post("/api/v1/devices", {"device_id": "s1", "name": "n" * 1_000_000}), 422)
    assert_error(server.post("/api/v1/devices",
                             {"device_id": "s1", "metadata": {"m": "z" * 5_000_000}}), 422)
    assert server.get("/api/v1/devices/s1").status == 404

    # PATCH merges: the merged metadata must stay within the limit too.
    server.create_device("s2", metadata={"a": "q" * 40_000})
    grown = server.patch("/api/v1/devices/s2", {"metadata": {"b": "q" * 40_000}})
    assert_error(grown, 422)
    assert server.patch("/api/v1/devices/s2", {"metadata": {"a": "small"}}).status == 200
    ok = server.put("/api/v1/devices/s2", {"name": "n" * 256, "metadata": {"k": "v"}})
    assert ok.status == 200, ok

    # Reported strings (attributes) are limited too; the other readings are stored.
    resp = server.post("/api/v1/telemetry", [{"device_id": "s2", "fw": "f" * 5000},
                                             {"device_id": "s2", "fw": "1.2.3", "t": 1}])
    assert resp.status == 422, resp
    assert resp.json["accepted"] == 1
    assert "4096 bytes" in resp.json["rejected"][0]["error"]
    lp = server.post("/api/v1/write", raw='m,device_id=s2 fw="%s"' % ("f" * 5000))
    assert lp.status == 422, lp


def test_device_ids_that_are_path_segments_are_refused(server):
    for bad in (".", ".."):
        assert_error(server.post("/api/v1/devices", {"device_id": bad}), 422)
        assert_error(server.post("/api/v1/heartbeat", {"device_id": bad}), 422)
        tel = server.post("/api/v1/telemetry", {"device_id": bad, "v": 1})
        assert tel.status == 422 and tel.json["accepted"] == 0, tel
        assert server.post("/api/v1/write", raw=f"m,device_id={bad} v=1").status == 422
    # Dots inside an id stay allowed.
    assert server.post("/api/v1/heartbeat", {"device_id": "a..b"}).status == 200
    assert server.post("/api/v1/heartbeat", {"device_id": "..."}).status == 200
    assert ".." not in server.device_ids()


def test_data_dir_and_files_are_private_to_the_server_user(start_server, tmp_path):
    data = tmp_path / "fresh" / "data"  # created by the server
    server = start_server(data_dir=data)
    server.heartbeat("p1")
    assert server.post("/api/v1/telemetry", {"device_id": "p1", "t": 1}).status == 200
    assert mode(data) == 0o700
    assert mode(data / "catalog.db") == 0o600
    assert mode(data / "tsdb") == 0o700
    for root, dirs, files in os.walk(data):
        for d in dirs:
            assert mode(os.path.join(root, d)) & 0o077 == 0, os.path.join(root, d)
        for f in files:
            assert mode(os.path.join(root, f)) & 0o077 == 0, os.path.join(root, f)
    assert "event=data_dir_permissions" not in server.log()


def test_an_existing_open_data_dir_keeps_working_with_a_warning(start_server, tmp_path):
    data = tmp_path / "old"
    data.mkdir()
    os.chmod(data, 0o755)
    server = start_server(data_dir=data)
    server.heartbeat("o1")
    assert "event=data_dir_permissions" in server.log()
    assert "chmod 700" in server.log()
    assert mode(data / "catalog.db") == 0o600


def test_stale_temporary_files_are_removed_at_start(start_server):
    server = start_server()
    assert server.post("/api/v1/telemetry", {"device_id": "k1", "t": 1.5}).status == 200
    server.kill()
    stale = [server.data_dir / "tsdb" / "CHECKPOINT.tmp", server.data_dir / "tsdb" / "TOMBSTONES.tmp",
             server.data_dir / "fleet_history.log.tmp"]
    for p in stale:
        p.write_bytes(b"half-written")
    server.start()
    for p in stale:
        assert not p.exists(), p
    values = server.get("/api/v1/devices/k1/latest").json["values"]
    assert values["t"]["value"] == 1.5
