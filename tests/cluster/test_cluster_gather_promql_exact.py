"""Every PromQL expression is exact in cluster mode, not only an outer aggregation: where the
owners' own answers cannot be merged exactly (an aggregation inside a binary expression or a
function, vector matching across devices, absent, scalar, ...), the gathering node gathers the
selectors' raw series from every owner and evaluates the whole expression once.

Three real nats-servers, three real fleetpulse nodes and one single-node fleetpulse on the same
data; every expression (instant through every node, range through one) equals the single
node's answer value for value. A stopped owner makes the answer partial, naming its
partitions, and the value is the expression over the devices that answered.
"""

from __future__ import annotations

import math
import signal
import statistics
import time
import urllib.parse

import pytest

from fleetpulse_cluster_harness import cluster_beside_single, partition_of, wait_points_applied

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms
DEVICES = [f"x-dev-{i:02d}" for i in range(21)]
AT = (T0 + 420_000) / 1000
RANGE = {"start": T0 / 1000, "end": (T0 + 600_000) / 1000, "step": 30}

# Instant queries; those marked * are asked as range queries too.
QUERIES = [
    "*avg(temp) / 2",
    "*abs(avg(temp) - 10)",
    "*sum(rate(msgs[5m])) / count(temp)",
    "*temp / on(device_id) group_left hum",
    "*topk(3, avg by (type) (temp))",
    "*temp - on() group_left avg(temp)",
    "temp > on() group_left quantile(0.5, temp)",
    "avg by (type) (temp) / on(type) group_right temp",
    "*temp / on(type) group_left avg by (type) (temp)",
    "*sum by (location) (temp) / on(location) group_left count by (location) (temp)",
    "scalar(avg(temp))",
    "*vector(scalar(max(hum)))",
    "sgn(avg(temp) - 10)",
    "*log2(sum(hum)) - log10(count(temp))",
    "*max(temp) - min(temp)",
    "stddev(temp) / avg(temp)",
    "count(temp > 10)",
    "*sum(temp) + sum(hum)",
    "*sum(temp) - 1",
    "(sum(temp))",
    "avg(rate(msgs[5m])) * 60",
    "-avg(temp)",
    "*time() / 1e6 - avg(temp)",
    "sqrt(stdvar(temp))",
    "*changes(msgs[5m]) - on() group_left avg(resets(msgs[10m]))",
    "count(count by (type) (temp))",
    "*topk(2, sum by (location) (temp))",
    "bottomk(1, max by (type) (hum))",
    "*avg_over_time(temp[5m]) - on() group_left avg(avg_over_time(temp[5m]))",
    "*temp and on(type) (avg by (type) (temp) > 10)",
    "temp unless on(type) topk(1, avg by (type) (temp))",
    "sum(temp) or vector(0)",
    "quantile(0.5, temp) + 0 * count(hum)",
    "round(avg by (location) (temp), 0.1)",
    "clamp_max(avg(temp), 5)",
    "*sum(temp) / on() group_left sum(hum)",
    "1 - avg(temp > bool 10)",
    "*max(temp offset 1m) / 2",
    "*sum by (device_id) (temp) / on() group_left sum(temp)",
    '*{__name__=~"temp|hum", device_id=~"x-dev-0.*"}',
    'count({__name__=~"temp|hum"})',
    "avg(temp)",
    "ceil(avg by (type) (temp))",
]


def readings() -> list[dict]:
    # Uneven values per device, a counter with a reset, a second metric.
    out = []
    for i, d in enumerate(DEVICES):
        for k in range(11):
            ts = T0 + 60_000 * k
            out.append({"device_id": d, "metric": "temp", "ts": ts,
                        "value": round((i * i) % 17 + 0.37 * k + i / 7, 6)})
            out.append({"device_id": d, "metric": "hum", "ts": ts,
                        "value": round(40 + (i * 7) % 11 - 0.13 * k, 6)})
            out.append({"device_id": d, "metric": "msgs", "ts": ts,
                        "value": float((k * (i + 3)) if k != 6 or i % 4 else 1)})
    return out


def register(node, device: str, i: int) -> None:
    body = {"device_id": device, "name": device, "type": f"t{i % 3}", "location": f"l{i % 2}"}
    r = node.post("/api/v1/devices", body)
    assert r.status in (200, 201, 409), (device, r)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with cluster_beside_single(tmp_path_factory.mktemp("fppromqlx")) as (nodes, single):
        for i, d in enumerate(DEVICES):
            # Every catalog knows the device's type and location (device changes through the
            # partition stream are another branch's work; registering everywhere is equal).
            for n in [single, *nodes]:
                register(n, d, i)
        body = {"readings": readings()}
        assert nodes[0].post("/api/v1/telemetry", body).status == 200
        assert single.post("/api/v1/telemetry", body).status == 200
        wait_points_applied(nodes[1], len(readings()))
        yield nodes, single


def query(node, q: str, **params):
    path = "/prometheus/api/v1/query" + ("_range" if "step" in params else "")
    return node.get(path + "?" + urllib.parse.urlencode({"query": q, **params}))


def canonical(body: dict) -> object:
    """The result with series sorted by labels; values as the text the API wrote."""
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return data
    return sorted((sorted(s["metric"].items()), s.get("values") or [s["value"]])
                  for s in data["result"])


def settled(node, q: str, **params) -> dict:
    """The answer once no partition is moving between owners (reported as partial)."""
    deadline = time.monotonic() + 20
    while True:
        r = query(node, q, **params)
        assert r.status == 200, (node.node_id, q, r)
        if not r.body.get("partial") or time.monotonic() > deadline:
            assert not r.body.get("partial"), r.body
            return r.body
        time.sleep(0.3)


def test_every_expression_through_any_node_equals_the_single_node(cluster):
    nodes, single = cluster
    assert len(QUERIES) >= 30
    nonempty = 0
    for entry in QUERIES:
        q = entry.lstrip("*")
        want = query(single, q, time=AT)
        assert want.status == 200, (q, want)
        nonempty += bool(want.body["data"]["result"])
        for n in nodes:
            got = settled(n, q, time=AT)
            assert canonical(got) == canonical(want.body), (n.node_id, q, got, want.body)
            assert got.get("warnings", []) == want.body.get("warnings", []), (q, got)
    assert nonempty >= len(QUERIES) - 3, nonempty
    ranged = [e.lstrip("*") for e in QUERIES if e.startswith("*")]
    assert len(ranged) >= 15
    for i, q in enumerate(ranged):
        want = query(single, q, **RANGE)
        assert want.status == 200 and want.body["data"]["result"], (q, want)
        got = settled(nodes[i % 3], q, **RANGE)
        assert canonical(got) == canonical(want.body), ("range", q, got, want.body)


def test_form_post_and_errors_are_the_single_nodes(cluster):
    nodes, single = cluster
    # Form POST, as Grafana sends it.
    form = urllib.parse.urlencode({"query": "avg(temp) / 2", "time": AT})
    post = {"raw": form, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    r = nodes[2].request("POST", "/prometheus/api/v1/query", **post)
    assert r.status == 200, r
    assert canonical(r.body) == canonical(query(single, "avg(temp) / 2", time=AT).body)
    # Bad parameters and execution errors: the single node's status and error type.
    for q, params in [("avg(temp) / 2", {"start": 1, "end": 0, "step": 10}),
                      ("avg(temp) / 2", {"start": 0, "end": 10, "step": 0}),
                      ("avg(temp) / 2", {"time": "yesterday"}),
                      ("temp / on(type) hum", {"time": AT})]:
        want = query(single, q, **params)
        got = query(nodes[0], q, **params)
        assert want.status >= 400 and got.status == want.status, (q, got, want)
        assert got.body["errorType"] == want.body["errorType"], (q, got, want)


def test_a_stopped_owner_makes_the_expression_partial_over_the_devices_that_answered(cluster):
    nodes, _ = cluster
    a, c = nodes[0], nodes[2]
    q = "avg(temp) / 2"
    settled(a, q, time=AT)
    owned_by_c = sorted(p["id"] for p in c.cluster()["partitions"] if p["owner"] == "c")
    assert owned_by_c
    c.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = query(a, q, time=AT)
        took = time.monotonic() - started
    finally:
        c.send_signal(signal.SIGCONT)
    assert r.status == 200, r
    body = r.body
    assert took < 8, took
    assert body["partial"] is True and body["missing_partitions"] == owned_by_c, body
    assert any("did not answer" in w for w in body["warnings"]), body
    kept = [r["value"] for r in readings() if r["metric"] == "temp" and r["ts"] == T0 + 420_000
            and partition_of(r["device_id"]) not in owned_by_c]
    assert kept
    assert math.isclose(float(body["data"]["result"][0]["value"][1]),
                        statistics.fmean(kept) / 2, rel_tol=1e-12), body
