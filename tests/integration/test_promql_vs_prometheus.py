"""PromQL side by side with real Prometheus 2.42 (Debian's `prometheus` and `promtool`).

One generated data set (tests/promql/dataset.py: 300 series, 3 hours at uneven intervals,
gaps longer than the lookback, counter resets) is loaded into Prometheus as TSDB blocks made by
`promtool tsdb create-blocks-from openmetrics` and into fleetpulse by line protocol (then
sealed into blocks and compacted, so fleetpulse answers from blocks, and its instant selectors
at hour-aligned steps from the 1-hour rollups: a wrong rollup timestamp fails 294 answers; so
do min/max/count_over_time over whole hours, which must be answered from rollups for at least
120 series, counted by fleetpulse_promql_rollup_series_total). Every
expression of tests/promql/corpus_supported.promql is then run against both, as instant
queries at several times and as range queries with several steps, and the answers must agree
series by series, value by value (relative tolerance 1e-9, NaN equal to NaN, timestamps
exact); an error from one must be an error of the same type from the other. Every expression
of corpus_unsupported.promql must get 422 bad_data naming what is unsupported.
"""

from __future__ import annotations

import json
import re
import math
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from fleetpulse_harness import free_port

PROMQL_DIR = Path(__file__).resolve().parent.parent / "promql"
sys.path.insert(0, str(PROMQL_DIR))
import dataset  # noqa: E402

T0 = dataset.T0_MS
INSTANT_TIMES_MS = [
    T0 + 3_600_000,              # inside the data
    T0 + 8_233_500,              # an odd millisecond
    T0 + dataset.SPAN_MS + 120_000,  # after the end, within the lookback
    T0 + dataset.SPAN_MS + 600_000,  # after the end, past the lookback
    T0 - 60_000,                 # before any data
]
RANGES = [  # (start, end, step) in ms
    (T0 + 600_000, T0 + dataset.SPAN_MS + 600_000, 60_000),
    (T0 + 600_500, T0 + 7_000_000, 97_000),
    (T0 - 1_800_000, T0 + dataset.SPAN_MS, 900_000),
    # Hour-aligned steps over compacted data: instant selectors read the 1-hour rollups (the
    # series of 10-60 s are dense enough to have them); the answer must not change.
    (T0 - 3_600_000, T0 + dataset.SPAN_MS + 3_600_000, 3_600_000),
    (T0 - 7_200_000, T0 + dataset.SPAN_MS + 7_200_000, 7_200_000),
]


def read_corpus(name: str) -> list[str]:
    lines = (PROMQL_DIR / name).read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")]


def http_json(base: str, path: str, params: list[tuple[str, str]], post: bool = False,
              headers: dict | None = None) -> tuple[int, dict]:
    data = urllib.parse.urlencode(params)
    hdrs = dict(headers or {})
    if post:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(base + path, data=data.encode(), headers=hdrs, method="POST")
    else:
        req = urllib.request.Request(base + path + "?" + data, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def secs(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


@pytest.fixture(scope="module")
def data():
    return dataset.generate()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, data):
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: install Debian's prometheus package "
                        "(scripts/install-deps.sh)", pytrace=False)
    _, series = data
    root = tmp_path_factory.mktemp("prometheus")
    om = root / "data.om"
    om.write_text(dataset.openmetrics(series))
    tsdb_dir = root / "tsdb"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb_dir)],
                   check=True, capture_output=True, timeout=300)
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = open(root / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tsdb_dir}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
         "--web.enable-admin-api=false" if False else "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("prometheus did not become ready:\n" +
                        (root / "prometheus.log").read_text(errors="replace"), pytrace=False)
        time.sleep(0.2)
    yield base + "/api/v1"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def fleetpulse_server(module_server_factory, data):
    devices, series = data
    server = module_server_factory()
    for d in devices:
        body = {"device_id": d.device_id, "type": d.type}
        if d.location:
            body["location"] = d.location
        r = server.post("/api/v1/devices", body)
        assert r.status == 201, r
    lines = dataset.line_protocol(series)
    for i in range(0, len(lines), 20_000):
        r = server.post("/api/v1/write?precision=ms", raw="\n".join(lines[i:i + 20_000]),
                        headers={"Content-Type": "text/plain"})
        assert r.status in (200, 204), r
    # Seal the data into blocks and wait for the day's compaction, which builds its rollups:
    # the corpus then reads blocks, and the hour-step ranges read rollups.
    assert server.post("/api/v1/admin/flush").status == 200
    deadline = time.time() + 60
    while metric_value(server, "fleetpulse_block_compactions_total") < 1:
        assert time.time() < deadline, "the sealed day was not compacted within 60 s"
        time.sleep(0.2)
    assert metric_value(server, "fleetpulse_blocks") >= 2, "no rollup block was written"
    return server


@pytest.fixture(scope="module")
def fleetpulse(fleetpulse_server):
    return f"http://127.0.0.1:{fleetpulse_server.port}/prometheus/api/v1"


def metric_value(server, name: str) -> float:
    r = server.get("/metrics")
    assert r.status == 200, r
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", r.text, re.M)
    return float(m.group(1)) if m else 0.0


def same_value(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def compare(expected: tuple[int, dict], got: tuple[int, dict]) -> str | None:
    """None when the answers agree, else what differs."""
    (es, e), (gs, g) = expected, got
    if e.get("status") != "success" or g.get("status") != "success":
        if e.get("status") == g.get("status") == "error" and e.get("errorType") == g.get("errorType"):
            return None
        return f"prometheus {es} {json.dumps(e)[:300]} vs fleetpulse {gs} {json.dumps(g)[:300]}"
    ed, gd = e["data"], g["data"]
    if ed["resultType"] != gd["resultType"]:
        return f"resultType {ed['resultType']} vs {gd['resultType']}"
    if ed["resultType"] in ("scalar", "string"):
        (et, ev), (gt, gv) = ed["result"], gd["result"]
        if et != gt or not (ev == gv if ed["resultType"] == "string" else same_value(ev, gv)):
            return f"{ed['result']} vs {gd['result']}"
        return None
    key = lambda s: json.dumps(s["metric"], sort_keys=True)
    ex = {key(s): s for s in ed["result"]}
    gx = {key(s): s for s in gd["result"]}
    if len(ex) != len(ed["result"]) or len(gx) != len(gd["result"]):
        return "duplicate label sets in a result"
    if ex.keys() != gx.keys():
        missing = sorted(ex.keys() - gx.keys())[:3]
        extra = sorted(gx.keys() - ex.keys())[:3]
        return f"series differ: missing {missing} extra {extra} ({len(ex)} vs {len(gx)})"
    for k, es_ in ex.items():
        gs_ = gx[k]
        ep = [es_["value"]] if "value" in es_ else es_["values"]
        gp = [gs_["value"]] if "value" in gs_ else gs_["values"]
        if [p[0] for p in ep] != [p[0] for p in gp]:
            return f"{k}: timestamps differ ({len(ep)} vs {len(gp)} points; " \
                   f"first {ep[:2]} vs {gp[:2]})"
        for (t, a), (_, b) in zip(ep, gp):
            if not same_value(a, b):
                return f"{k} at {t}: {a} vs {b}"
    return None


def has_data(answer: tuple[int, dict]) -> bool:
    s, body = answer
    return body.get("status") == "success" and (
        body["data"]["resultType"] == "scalar" or len(body["data"]["result"]) > 0)


def test_corpus_agrees_with_prometheus(prometheus, fleetpulse, fleetpulse_server):
    rollup_series_before = metric_value(fleetpulse_server, "fleetpulse_promql_rollup_series_total")
    corpus = read_corpus("corpus_supported.promql")
    assert len(corpus) >= 200
    failures, with_data, runs = [], 0, 0
    for expr in corpus:
        expr_has_data = False
        queries = [("/query", [("query", expr), ("time", secs(t))]) for t in INSTANT_TIMES_MS]
        queries += [("/query_range", [("query", expr), ("start", secs(a)), ("end", secs(b)),
                                      ("step", str(step / 1000))]) for a, b, step in RANGES]
        for i, (path, params) in enumerate(queries):
            expected = http_json(prometheus, path, params)
            got = http_json(fleetpulse, path, params, post=i % 2 == 1)
            runs += 1
            expr_has_data |= has_data(expected)
            diff = compare(expected, got)
            if diff:
                failures.append(f"{expr!r} {path} {params[1:]}: {diff}"[:400])
        with_data += expr_has_data
    report = "\n".join(failures[:25])
    assert not failures, f"{len(failures)} of {runs} answers disagree:\n{report}"
    # The corpus must exercise data, not just agree on empty answers.
    assert with_data >= 0.9 * len(corpus), f"only {with_data} of {len(corpus)} returned data"
    # The whole-hour window functions at the hour-step ranges were answered from rollups (and
    # agreed above): 60 devices' temperature and humidity series are dense enough to have them.
    rollup_series = metric_value(fleetpulse_server, "fleetpulse_promql_rollup_series_total")
    assert rollup_series - rollup_series_before >= 120, \
        f"only {rollup_series - rollup_series_before} series read from rollups"


def test_sum_over_time_of_integer_series_is_answered_from_rollups(prometheus, fleetpulse,
                                                                   fleetpulse_server):
    # requests_total holds integers: hour windows at hour steps read the 1-hour buckets' sums
    # (exact in any order, so Prometheus's Kahan sum over the samples, bit for bit);
    # temperature (fractions) is read raw. Both agree with Prometheus.
    a, b, step = RANGES[3]
    for expr, from_rollups in (("sum_over_time(fp_requests_total[1h])", True),
                               ("sum_over_time(fp_temperature[1h])", False)):
        before = metric_value(fleetpulse_server, "fleetpulse_promql_rollup_series_total")
        params = [("query", expr), ("start", secs(a)), ("end", secs(b)), ("step", str(step / 1000))]
        expected = http_json(prometheus, "/query_range", params)
        got = http_json(fleetpulse, "/query_range", params)
        assert has_data(expected)
        assert compare(expected, got) is None, compare(expected, got)
        # Not only within 1e-9: the very same numbers, digit for digit.
        key = lambda r: json.dumps(r["metric"], sort_keys=True)  # noqa: E731
        assert sorted(got[1]["data"]["result"], key=key) == \
            sorted(expected[1]["data"]["result"], key=key)
        read = metric_value(fleetpulse_server, "fleetpulse_promql_rollup_series_total") - before
        if from_rollups:
            assert read >= 50, f"{expr}: only {read} series read from rollups"
        else:
            assert read == 0, f"{expr}: {read} series of fractions read from rollups"


def test_unsupported_expressions_get_422(fleetpulse, prometheus):
    corpus = read_corpus("corpus_unsupported.promql")
    assert len(corpus) >= 20
    wrong = []
    for expr in corpus:
        # Prometheus itself accepts each of them (they are valid PromQL) ...
        ps, pbody = http_json(prometheus, "/query", [("query", expr), ("time", secs(T0 + 3_600_000))])
        if ps != 200 and "negative offset" not in pbody.get("error", ""):
            wrong.append(f"{expr!r}: prometheus says {ps} {pbody}")
        # ... and fleetpulse refuses each with 422 bad_data naming what it does not support.
        s, body = http_json(fleetpulse, "/query", [("query", expr), ("time", secs(T0 + 3_600_000))])
        if s != 422 or body.get("status") != "error" or body.get("errorType") != "bad_data" \
                or "not supported" not in body.get("error", ""):
            wrong.append(f"{expr!r}: {s} {body}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path,params", [
    ("/series", [("match[]", 'fp_temperature{type="sensor"}')]),
    ("/series", [("match[]", "fp_humidity{location=~'n.*'}"), ("match[]", 'fp_errors_total{device_id="dev-002"}')]),
    ("/labels", [("match[]", '{__name__=~"fp_.*"}')]),
    ("/labels", [("match[]", "fp_temperature")]),
    ("/label/device_id/values", [("match[]", '{__name__=~"fp_.*"}')]),
    ("/label/type/values", [("match[]", "fp_temperature")]),
    ("/label/location/values", [("match[]", "fp_humidity"), ("match[]", "fp_errors_total")]),
    ("/label/__name__/values", [("match[]", '{__name__=~"fp_.*"}')]),
    ("/label/nonexistent/values", []),
    ("/series", [("match[]", "fp_temperature"), ("start", secs(T0 - 60_000)), ("end", secs(T0 + 3_700_000))]),
    ("/series", [("match[]", "fp_temperature"), ("start", secs(T0 - 7_200_000)), ("end", secs(T0 - 3_600_000))]),
])
def test_series_and_label_apis_agree(prometheus, fleetpulse, path, params):
    def norm(answer):
        status, body = answer
        data = body.get("data")
        if isinstance(data, list):
            data = sorted(json.dumps(x, sort_keys=True) for x in data)
        return status, body.get("status"), data
    expected = http_json(prometheus, path, params)
    assert norm(http_json(fleetpulse, path, params)) == norm(expected)
    assert norm(http_json(fleetpulse, path, params, post=True)) == norm(expected)


@pytest.mark.parametrize("path,params", [
    ("/query", [("query", "fp_temperature{")]),
    ("/query", [("query", "")]),
    ("/query", [("query", "rate(fp_temperature)")]),
    ("/query", [("query", "unknown_fn(fp_temperature)")]),
    ("/query", [("query", "1 > 2")]),
    ("/query", [("query", "fp_temperature"), ("time", "yesterday")]),
    ("/query_range", [("query", "fp_temperature"), ("start", "100"), ("end", "50"), ("step", "10")]),
    ("/query_range", [("query", "fp_temperature"), ("start", "100"), ("end", "200"), ("step", "0")]),
    ("/query_range", [("query", "fp_temperature"), ("start", "0"), ("end", "200000"), ("step", "1")]),
    ("/query_range", [("query", "fp_temperature[5m]"), ("start", "0"), ("end", "200"), ("step", "10")]),
    ("/query_range", [("query", "fp_temperature"), ("start", "0"), ("end", "200")]),
    ("/series", []),
])
def test_bad_requests_get_prometheus_errors(prometheus, fleetpulse, path, params):
    es, eb = http_json(prometheus, path, params)
    gs, gb = http_json(fleetpulse, path, params)
    assert (gs, gb.get("status"), gb.get("errorType")) == (es, eb.get("status"), eb.get("errorType")), \
        f"prometheus {es} {eb} vs fleetpulse {gs} {gb}"
    assert gb.get("error")


def test_buildinfo_and_metadata(fleetpulse):
    s, body = http_json(fleetpulse, "/status/buildinfo", [])
    assert s == 200 and body["status"] == "success" and body["data"]["version"].startswith("2.")
    s, body = http_json(fleetpulse, "/metadata", [])
    assert s == 200 and body["data"]["fp_temperature"][0]["type"] == "gauge"
    # (plus the KPI history's names once the server has sampled some: fleetpulse_device_*)
    kpi = re.compile(r"fleetpulse_(device|type)_(availability|uptime|response_time_ms|messages|"
                     r"errors|battery_level|devices)")
    assert {n for n in body["data"] if not kpi.fullmatch(n)} == {
        f"fp_{m}" for m in dataset.METRICS} | {"fleetpulse_device_up", "fleetpulse_device_status"}
    s, body = http_json(fleetpulse, "/metadata", [("metric", "fp_humidity")])
    assert list(body["data"]) == ["fp_humidity"]
