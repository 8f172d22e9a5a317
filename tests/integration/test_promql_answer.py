"""How the Prometheus API answers travel: a range query's matrix (formatted piece by piece,
timestamps once per step) is the same JSON whether the client asks for gzip or not; with
`Accept-Encoding: gzip` (Grafana's data source sends it, Prometheus honours it) the answer is
gzip-compressed and says so; without it, or with gzip refused (q=0), it is plain. Points off the
step grid (a step that does not divide the range, an offset) and the warnings trailer keep
their exact bytes through both.
"""

from __future__ import annotations

import gzip
import json
import math
import socket
import time
import urllib.parse

import pytest

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, seconds
DEVICES = 40
HOURS = 6


@pytest.fixture(scope="module")
def server(module_server_factory):
    srv = module_server_factory()
    lines = []
    for d in range(DEVICES):
        for k in range(HOURS * 60 // 5):  # every 5 minutes, uneven by device
            t_ms = (T0 + k * 300 + d) * 1000 + (k * 37 % 1000)
            v = d + k * 0.25
            lines.append(f"answer,device_id=ans-{d:03d} temp={v} {t_ms}")
    r = srv.request("POST", "/api/v1/write?precision=ms", raw="\n".join(lines).encode(),
                    headers={"Content-Type": "text/plain"})
    assert r.status in (200, 204), r.raw
    return srv


def query(srv, path: str, params: dict, accept: str | None):
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    return srv.get(f"/prometheus/api/v1/{path}?" + urllib.parse.urlencode(params), headers=headers)


def both(srv, path: str, params: dict) -> bytes:
    plain = query(srv, path, params, None)
    assert plain.status == 200, plain.raw[:300]
    assert plain.headers.get("Content-Encoding") is None
    zipped = query(srv, path, params, "gzip, deflate")
    assert zipped.status == 200
    assert zipped.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in zipped.headers.get("Vary", "")
    assert gzip.decompress(zipped.raw) == plain.raw
    if len(plain.raw) > 10_000:
        assert len(zipped.raw) < len(plain.raw) / 3
    return plain.raw


# NaN and ±Inf (line protocol stores none) come from dividing by zero: x < 10, = 10, > 10.
@pytest.mark.parametrize("step,offset", [("60", ""), ("47", ""), ("300", " offset 90s"),
                                          ("0.5", "")])
def test_range_answer_is_the_same_json_gzipped_or_not(server, step, offset):
    end = T0 + (HOURS * 3600 if step != "0.5" else 900)
    raw = both(server, "query_range", {"query": f"(answer_temp{offset} - 10) / 0",
                                       "start": str(T0 + 30), "end": str(end), "step": step})
    doc = json.loads(raw)
    assert doc["status"] == "success" and doc["data"]["resultType"] == "matrix"
    result = doc["data"]["result"]
    assert len(result) == DEVICES
    step_ms = round(float(step) * 1000)
    values = set()
    for s in result:
        for t, v in s["values"]:
            # every timestamp is on the query's steps, written as Prometheus writes it
            assert round(t * 1000 - (T0 + 30) * 1000) % step_ms == 0
            assert isinstance(t, (int, float)) and (t == int(t)) == ("." not in repr(t))
            values.add(v)
    assert {"NaN", "+Inf", "-Inf"} <= values
    assert all(v in ("NaN", "+Inf", "-Inf") or not math.isnan(float(v)) for v in values)


def test_range_answer_bytes_follow_prometheus_formatting(server):
    raw = both(server, "query_range", {"query": 'answer_temp{device_id="ans-001"}',
                                       "start": str(T0), "end": str(T0 + 600), "step": "300"})
    assert raw == (b'{"status":"success","data":{"resultType":"matrix","result":['
                   b'{"metric":{"__name__":"answer_temp","device_id":"ans-001"},"values":['
                   b'[1767225900,"1"],[1767226200,"1.25"]]}]}}')


def test_gzip_refused_or_not_asked_gives_plain_json(server):
    params = {"query": "answer_temp", "start": str(T0), "end": str(T0 + 3600), "step": "60"}
    for accept in (None, "identity", "gzip;q=0", "br"):
        r = query(server, "query_range", params, accept)
        assert r.status == 200 and r.headers.get("Content-Encoding") is None, accept
        assert r.json["status"] == "success"


def test_instant_and_label_answers_gzip_too(server):
    both(server, "query", {"query": "answer_temp", "time": str(T0 + 3600)})
    both(server, "series", {"match[]": "answer_temp"})
    # a small answer is sent as it is
    r = query(server, "query", {"query": "1"}, "gzip")
    assert r.status == 200 and r.headers.get("Content-Encoding") is None
    assert r.json["data"]["resultType"] == "scalar"
    # errors keep Prometheus's shape, uncompressed
    r = query(server, "query_range", {"query": "answer_temp[", "start": "0", "end": "1", "step": "1"},
              "gzip")
    assert r.status == 400 and r.json["errorType"] == "bad_data"


def test_a_large_range_answer_is_streamed_in_chunks_with_the_answer_of_its_parts(server):
    # 40 series x 1,800 steps: about 2.5 MB of JSON, over the 1 MiB above which the answer is
    # streamed (chunked, formatted piece by piece as the client takes it) instead of built whole.
    params = {"query": "answer_temp", "start": str(T0 + 3600), "end": str(T0 + 4500),
              "step": "0.5"}
    conn = server.connect()
    try:
        conn.request("GET", "/prometheus/api/v1/query_range?" + urllib.parse.urlencode(params))
        answer = conn.getresponse()
        assert answer.status == 200
        assert answer.headers.get("Transfer-Encoding") == "chunked"
        assert answer.headers.get("Content-Length") is None
        raw = answer.read()
    finally:
        conn.close()
    assert len(raw) > 1 << 20
    doc = json.loads(raw)
    assert doc["status"] == "success" and len(doc["data"]["result"]) == DEVICES
    # Each device's part is small (sent whole, with a length): the same series, point by point.
    for s in doc["data"]["result"]:
        part = query(server, "query_range",
                     dict(params, query=f'answer_temp{{device_id="{s["metric"]["device_id"]}"}}'),
                     None)
        assert part.headers.get("Transfer-Encoding") is None and part.headers.get("Content-Length")
        assert part.json["data"]["result"] == [s]


def test_clients_that_stop_reading_are_cut_and_hold_no_query_worker(server):
    # Six clients, more than the four query workers, each ask for a ~14 MB answer (40 series x
    # 10,000 steps: far more than the socket buffers hold) and read nothing. Once a socket is full, the rest of its answer is parked with the answer pump and
    # the worker is free: other queries are answered at once, not after the 10 s the stalled
    # clients are given (before, each stalled answer held its worker until it was cut).
    path = "/prometheus/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": "answer_temp", "start": str(T0), "end": str(T0 + 1000), "step": "0.1"})
    stalled = []
    try:
        for _ in range(6):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", server.port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            stalled.append(s)
        time.sleep(2)
        started = time.monotonic()
        for _ in range(5):
            r = query(server, "query", {"query": "count(answer_temp)", "time": str(T0 + 3600)}, None)
            assert r.status == 200 and r.json["data"]["result"][0]["value"][1] == str(DEVICES)
        took = time.monotonic() - started
        # (workers held by the stalled answers would free only when those are cut, ~8 s from here)
        assert took < 6, f"5 small queries took {took:.1f} s beside 6 stalled answers"
        # After 10 s without progress the server (the pump) gives up on each stalled client:
        # what it sent ends without the last chunk.
        time.sleep(14)
        for s in stalled:
            s.settimeout(20)
            got = bytearray()
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            assert got.startswith(b"HTTP/1.1 200")
            assert b"transfer-encoding: chunked" in bytes(got[:500]).lower()
            assert not got.endswith(b"\r\n0\r\n\r\n"), "a stalled answer was completed, not cut"
            assert len(got) < 10_000_000
    finally:
        for s in stalled:
            s.close()


def test_a_single_series_range_answer_is_sent_whole_and_as_fast_plain_as_gzipped(server):
    # Issue 15's single-series row: a small answer (~30 KB, 1,441 steps) is sent whole, with its
    # length, on a new connection asking `Connection: close` (as urllib does in
    # bench/promql_bench.py) and on a kept-alive one; plain it is no slower than gzipped (it
    # only skips the compression). Loose: the median of 15 each, 3x + 5 ms of slack.
    params = {"query": 'answer_temp{device_id="ans-007"}', "start": str(T0),
              "end": str(T0 + HOURS * 3600), "step": "15"}
    target = "/prometheus/api/v1/query_range?" + urllib.parse.urlencode(params)
    auth = f"Authorization: Bearer {server.admin_key}\r\n" if server.admin_key else ""
    times = {"identity": [], "gzip": []}
    for _ in range(16):  # alternated, so a busy moment of the machine hits both alike
        for accept in ("identity", "gzip"):
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept}\r\n"
                          f"{auth}Connection: close\r\n\r\n".encode())
                raw = b""
                while chunk := s.recv(1 << 16):  # the server closes after the answer
                    raw += chunk
            times[accept].append(time.perf_counter() - t0)
            head, _, body = raw.partition(b"\r\n\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (line.partition(b":") for line in head.split(b"\r\n")[1:])}
            assert head.startswith(b"HTTP/1.1 200"), head
            assert b"transfer-encoding" not in fields
            assert int(fields[b"content-length"]) == len(body)
            if accept == "identity":
                assert len(json.loads(body)["data"]["result"][0]["values"]) >= HOURS * 240
    plain, zipped = (sorted(times[a][1:])[7] for a in ("identity", "gzip"))
    assert plain <= 3 * zipped + 0.010, (plain, zipped, times)
    # kept alive: the same answer twice on one connection
    conn = server.connect()
    try:
        for _ in range(2):
            conn.request("GET", target, headers={"Authorization": f"Bearer {server.admin_key}"}
                         if server.admin_key else {})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200 and r.headers.get("Content-Length") == str(len(body))
            assert r.headers.get("Transfer-Encoding") is None and not r.will_close
    finally:
        conn.close()
