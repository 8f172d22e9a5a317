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
