"""The shipped Grafana provisioning (deploy/grafana) against fleetpulse fed by `fleetpulse
simulate`: the data source file points at <host>:8080/prometheus with a Bearer API key header,
every dashboard variable's label_values() query and every panel query is answered through
that URL and header, and each panel returns data — the KPI history panels too
(fleetpulse_device_* / fleetpulse_type_*, sampled every second here). Also: device status
series, query limits and auth on the Prometheus routes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from fleetpulse_harness import binary_path, hermetic_env

GRAFANA = Path(__file__).resolve().parent.parent.parent / "deploy" / "grafana"
ADMIN_KEY = "promql-grafana-admin-key"


def prom(url: str, path: str, params, key: str | None):
    req = urllib.request.Request(url + path + "?" + urllib.parse.urlencode(params))
    if key is not None:
        req.add_header("Authorization", key)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def fleet(module_server_factory, tmp_path_factory):
    server = module_server_factory("--kpi-history-interval", "1s", admin_key=ADMIN_KEY)
    r = server.post("/api/v1/admin/api-keys", {"name": "grafana", "role": "read"}, key=ADMIN_KEY)
    assert r.status == 201, r
    read_key = r.json["key"]
    r = server.post("/api/v1/admin/api-keys", {"name": "sim", "role": "write"}, key=ADMIN_KEY)
    assert r.status == 201, r
    proc = subprocess.run(
        [str(binary_path()), "simulate", "--target", server.base_url, "--no-progress",
         "--api-key", r.json["key"], "--devices", "24", "--history", "3h", "--history-step", "1m",
         "--duration", "3s", "--dropouts", "0"],
        env=hermetic_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    # The simulator's heartbeats carry no device time, so they give no response time: send one
    # timestamped heartbeat per device, then let the KPI history take a sample or two.
    devices = server.get("/api/v1/devices?limit=1000", key=ADMIN_KEY).json["devices"]
    for d in devices:
        r = server.post(f"/api/v1/devices/{d['device_id']}/heartbeat", {"ts": time.time() - 0.2},
                        key=ADMIN_KEY)
        assert r.status in (200, 201, 202), r
    time.sleep(2.5)
    return server, read_key


def datasource():
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "fleetpulse.yaml").read_text())
    (ds,) = doc["datasources"]
    return ds


def test_datasource_points_at_the_prometheus_api_with_the_key_header(fleet):
    server, read_key = fleet
    ds = datasource()
    assert ds["type"] == "prometheus" and ds["uid"] == "fleetpulse"
    assert ds["url"] == "http://${FLEETPULSE_HOST}:8080/prometheus"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Bearer ${FLEETPULSE_API_KEY}"
    # As Grafana expands it (the port is the test server's instead of 8080).
    url = ds["url"].replace("${FLEETPULSE_HOST}", "127.0.0.1").replace(":8080", f":{server.port}")
    header = ds["secureJsonData"]["httpHeaderValue1"].replace("${FLEETPULSE_API_KEY}", read_key)
    status, body = prom(url, "/api/v1/status/buildinfo", [], header)
    assert status == 200 and body["status"] == "success"
    status, body = prom(url, "/api/v1/query", [("query", "count(battery_level)")], header)
    assert status == 200 and float(body["data"]["result"][0]["value"][1]) > 0
    # Without the key, or with a wrong one, the API refuses.
    assert prom(url, "/api/v1/query", [("query", "1")], None)[0] == 401
    assert prom(url, "/api/v1/query", [("query", "1")], "Bearer wrong")[0] == 401


def dashboards():
    return sorted((GRAFANA / "dashboards").glob("*.json"))


def test_every_listed_dashboard_ships():
    names = {p.stem for p in dashboards()}
    assert names == {"fleet-status", "battery-signal", "heartbeat-rate", "uptime-availability",
                     "response-time", "throughput", "error-rate", "telemetry-explorer"}
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "fleetpulse.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"


def label_values(url, header, query: str, now: float) -> list[str]:
    """Grafana's label_values(label) and label_values(selector, label)."""
    m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", query)
    assert m, query
    selector, label = m.groups()
    params = [("start", str(now - 6 * 3600)), ("end", str(now))]
    if selector:
        params.append(("match[]", selector))
    status, body = prom(url, f"/api/v1/label/{label}/values", params, header)
    assert status == 200 and body["status"] == "success", (query, body)
    return body["data"]


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.stem)
def test_every_panel_query_answers_with_data(fleet, path):
    server, read_key = fleet
    url = f"http://127.0.0.1:{server.port}/prometheus"
    header = f"Bearer {read_key}"
    dash = json.loads(path.read_text())
    now = time.time()
    values = {"__rate_interval": "4m", "__interval": "1m", "__range": "6h"}
    for var in dash["templating"]["list"]:
        opts = label_values(url, header, re.sub(
            r"\$(\w+)", lambda m: values.get(m.group(1), m.group(0)), var["query"]["query"]), now)
        assert opts, f"{path.name}: variable {var['name']} has no values"
        # "All" (the regex .* ) for multi-value variables, the first value otherwise.
        values[var["name"]] = ".*" if var.get("includeAll") else opts[0]
    assert dash["panels"]
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == datasource()["uid"]
        for target in panel["targets"]:
            expr = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], target["expr"])
            status, body = prom(url, "/api/v1/query_range",
                                [("query", expr), ("start", str(now - 3 * 3600)),
                                 ("end", str(now)), ("step", "60")], header)
            assert status == 200 and body["status"] == "success", (panel["title"], expr, body)
            assert body["data"]["result"], f"{path.name}: panel {panel['title']!r}: {expr} has no data"


def test_device_status_series_follow_the_status_history(fleet):
    server, read_key = fleet
    url = f"http://127.0.0.1:{server.port}/prometheus"
    header = f"Bearer {read_key}"
    status, body = prom(url, "/api/v1/query", [("query", "sum by (status) (fleetpulse_device_status)")], header)
    assert status == 200
    counts = {s["metric"]["status"]: float(s["value"][1]) for s in body["data"]["result"]}
    assert set(counts) == {"online", "at_risk", "offline", "unknown"}
    assert sum(counts.values()) == 24
    up = prom(url, "/api/v1/query", [("query", "sum(fleetpulse_device_up)")], header)[1]
    assert float(up["data"]["result"][0]["value"][1]) == counts["online"]
    ids = prom(url, "/api/v1/label/device_id/values", [("match[]", "fleetpulse_device_up")], header)[1]["data"]
    assert len(ids) == 24
    one = prom(url, "/api/v1/query", [("query", f'fleetpulse_device_status{{device_id="{ids[0]}"}}')], header)[1]
    series = one["data"]["result"]
    assert len(series) == 4 and sum(float(s["value"][1]) for s in series) == 1
    assert all(s["metric"]["type"] and s["metric"]["device_id"] == ids[0] for s in series)


def test_limits_refuse_queries_that_touch_too_much(start_server, tmp_path):
    server = start_server("--promql-max-series", "5", "--promql-max-points", "60")
    lines = "\n".join(f"m,device_id=d{i} v={j} {1_700_000_000_000 + j * 1000}" for i in range(8) for j in range(20))
    assert server.post("/api/v1/write?precision=ms", raw=lines).status in (200, 204)
    url = f"http://127.0.0.1:{server.port}/prometheus"
    ok = prom(url, "/api/v1/query", [("query", 'm_v{device_id="d1"}'), ("time", "1700000010")], None)
    assert ok[0] == 200 and len(ok[1]["data"]["result"]) == 1
    status, body = prom(url, "/api/v1/query", [("query", "m_v"), ("time", "1700000010")], None)
    assert status == 422 and body["errorType"] == "execution" and "promql-max-series" in body["error"]
    status, body = prom(url, "/api/v1/query", [("query", 'sum_over_time(m_v{device_id=~"d[0-3]"}[1h])'),
                                               ("time", "1700000030")], None)
    assert status == 422 and "promql-max-points" in body["error"]
    assert server.get("/health").status == 200


def test_the_points_limit_bounds_the_evaluated_series_too(start_server):
    # 20 raw points of one series, asked at a 0.1 s step over 30 s: 301 points evaluated from
    # 20 read (the lookback repeats each). The matrix a query holds counts against
    # --promql-max-points, so a query cannot hold 300x what it reads past the limit.
    server = start_server("--promql-max-points", "100")
    lines = "\n".join(f"m,device_id=d1 v={j} {1_700_000_000_000 + j * 1000}" for j in range(20))
    assert server.post("/api/v1/write?precision=ms", raw=lines).status in (200, 204)
    url = f"http://127.0.0.1:{server.port}/prometheus"
    coarse = [("query", 'm_v{device_id="d1"}'), ("start", "1700000000"), ("end", "1700000030"),
              ("step", "1")]
    status, body = prom(url, "/api/v1/query_range", coarse, None)
    assert status == 200 and len(body["data"]["result"][0]["values"]) == 31
    fine = [(k, "0.1" if k == "step" else v) for k, v in coarse]
    status, body = prom(url, "/api/v1/query_range", fine, None)
    assert status == 422 and body["errorType"] == "execution", body
    assert "promql-max-points" in body["error"]
    window = [("query", 'max_over_time(m_v{device_id="d1"}[1m])')] + fine[1:]
    status, body = prom(url, "/api/v1/query_range", window, None)
    assert status == 422 and "promql-max-points" in body["error"]
    assert server.get("/health").status == 200


def test_a_long_query_does_not_hold_the_network_thread(start_server):
    # One network thread: if the query ran on it, /health would wait for the whole query.
    server = start_server("--threads", "1")
    base = 1_700_000_000_000
    for d in range(50):
        lines = "\n".join(f"m,device_id=d{d} v={(i * 7 + d) % 100} {base + i * 10_000}"
                          for i in range(5000))
        assert server.post("/api/v1/write?precision=ms", raw=lines).status in (200, 204)
    url = f"http://127.0.0.1:{server.port}/prometheus"
    params = [("query", "sum(sum_over_time(m_v[3h]))"), ("start", str(base / 1000)),
              ("end", str(base / 1000 + 50_000)), ("step", "5")]
    done = {}

    def run():
        t0 = time.perf_counter()
        done["answer"] = prom(url, "/api/v1/query_range", params, None)
        done["seconds"] = time.perf_counter() - t0

    import threading
    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    assert server.get("/health").status == 200
    health_seconds = time.perf_counter() - t0
    t.join(timeout=120)
    status, body = done["answer"]
    assert status == 200 and len(body["data"]["result"]) == 1
    assert done["seconds"] > 0.6, f"the query took only {done['seconds']:.2f} s: too light to tell"
    print(f"query {done['seconds']:.2f} s, health {health_seconds:.3f} s")
    assert health_seconds < done["seconds"] / 3, (health_seconds, done["seconds"])
