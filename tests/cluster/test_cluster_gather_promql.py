"""PromQL aggregations that owners' partial answers cannot be combined into (avg, stddev,
stdvar, group, topk, bottomk, quantile) are exact in cluster mode: the gathering node asks
every owner for the aggregation's argument and evaluates the aggregation once.

Three real nats-servers, three real fleetpulse nodes and one single-node fleetpulse on the same
data; every query through every node equals the single node's answer (instant and range, GET
and form POST). A stopped owner makes the answer partial, naming its partitions, and the value
is then the aggregation over the devices that answered — never an average of averages.
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
DEVICES = [f"q-dev-{i:02d}" for i in range(20)]
AT = (T0 + 400_000) / 1000
QUERIES = [
    "avg(temp)", "stddev(temp)", "stdvar(temp)", "group(temp)", "topk(3, temp)",
    "bottomk(2, temp)", "quantile(0.9, temp)", "avg without (device_id) (temp)",
    "avg by (__name__) (temp)", "topk(2, rate(temp[5m]))", "avg(avg_over_time(temp[5m]))",
    "quantile(0.25, max_over_time(temp[10m]))",
]


def readings() -> list[dict]:
    # Uneven values per device (so averages of per-owner averages would differ).
    return [{"device_id": d, "metric": "temp", "value": round((i * i) % 17 + 0.37 * k + i / 7, 6),
             "ts": T0 + 60_000 * k} for i, d in enumerate(DEVICES) for k in range(10)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with cluster_beside_single(tmp_path_factory.mktemp("fppromql")) as (nodes, single):
        body = {"readings": readings()}
        assert nodes[0].post("/api/v1/telemetry", body).status == 200
        assert single.post("/api/v1/telemetry", body).status == 200
        wait_points_applied(nodes[1], len(readings()))
        yield nodes, single


def query(node, q: str, **params) -> dict:
    path = "/prometheus/api/v1/query" + ("_range" if "step" in params else "")
    r = node.get(path + "?" + urllib.parse.urlencode({"query": q, **params}))
    assert r.status == 200, (q, r)
    return r.body


def canonical(body: dict) -> list:
    """Series sorted by labels, values as floats."""
    out = []
    for s in body["data"]["result"]:
        pts = s["values"] if "values" in s else [s["value"]]
        out.append((sorted(s["metric"].items()), [(float(t), float(v)) for t, v in pts]))
    return sorted(out)


def assert_same(got: dict, want: dict, what: str) -> None:
    g, w = canonical(got), canonical(want)
    assert [m for m, _ in g] == [m for m, _ in w], (what, got, want)
    for (_, gp), (_, wp) in zip(g, w):
        assert len(gp) == len(wp), (what, gp, wp)
        for (gt, gv), (wt, wv) in zip(gp, wp):
            assert gt == wt and math.isclose(gv, wv, rel_tol=1e-12, abs_tol=1e-12), (what, gp, wp)


def settled(node, q: str, **params) -> dict:
    """The answer once no partition is moving between owners (reported as partial)."""
    deadline = time.monotonic() + 20
    while True:
        body = query(node, q, **params)
        if not body.get("partial") or time.monotonic() > deadline:
            assert not body.get("partial"), body
            return body
        time.sleep(0.3)


def test_aggregations_through_any_node_equal_the_single_node(cluster):
    nodes, single = cluster
    for q in QUERIES:
        want = query(single, q, time=AT)
        assert want["data"]["result"], q
        for n in nodes:
            assert_same(settled(n, q, time=AT), want, (n.node_id, q))
    # Range queries: evaluated once per step.
    rng = {"start": T0 / 1000, "end": (T0 + 540_000) / 1000, "step": 60}
    for q in ("avg(temp)", "topk(2, temp)", "quantile(0.5, temp)", "stddev(temp)"):
        want = query(single, q, **rng)
        assert_same(settled(nodes[1], q, **rng), want, ("range", q))
    # Form POST, as Grafana sends it.
    form = urllib.parse.urlencode({"query": "avg(temp)", "time": AT})
    r = nodes[2].request("POST", "/prometheus/api/v1/query", raw=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    assert_same(r.body, query(single, "avg(temp)", time=AT), "POST avg")
    # A malformed percent escape in the form: the single node's answer, not a dead node.
    bad = {"raw": f"query=avg(temp)%zz&time={AT}",
           "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    r = nodes[2].request("POST", "/prometheus/api/v1/query", **bad)
    want = single.request("POST", "/prometheus/api/v1/query", **bad)
    assert r.status == want.status and r.body["data"] == want.body["data"], (r, want)
    assert nodes[2].get("/api/v1/stats").status == 200


def test_avg_is_the_fleet_mean_not_a_mean_of_owner_means(cluster):
    nodes, _ = cluster
    latest: dict[str, float] = {}
    for r in readings():
        if r["ts"] <= AT * 1000:
            latest[r["device_id"]] = r["value"]
    body = settled(nodes[0], "avg(temp)", time=AT)
    assert len(body["data"]["result"]) == 1, body
    assert math.isclose(float(body["data"]["result"][0]["value"][1]),
                        statistics.fmean(latest.values()), rel_tol=1e-12)


def test_a_stopped_owner_makes_the_aggregation_partial_over_the_devices_that_answered(cluster):
    nodes, _ = cluster
    a, c = nodes[0], nodes[2]
    settled(a, "avg(temp)", time=AT)
    owned_by_c = sorted(p["id"] for p in c.cluster()["partitions"] if p["owner"] == "c")
    assert owned_by_c
    c.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        body = query(a, "avg(temp)", time=AT)
        took = time.monotonic() - started
    finally:
        c.send_signal(signal.SIGCONT)
    assert took < 6, took
    assert body["partial"] is True and body["missing_partitions"] == owned_by_c, body
    assert any("did not answer" in w for w in body["warnings"]), body
    kept = [r["value"] for r in readings() if r["ts"] == T0 + 360_000
            and partition_of(r["device_id"]) not in owned_by_c]
    assert math.isclose(float(body["data"]["result"][0]["value"][1]), statistics.fmean(kept),
                        rel_tol=1e-12), body
