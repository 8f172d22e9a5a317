"""The streamed fleet reads in cluster mode, gathered from every partition owner: the export
(NDJSON and CSV), the live stream (SSE) and /metrics with a node label.

Three real nats-servers, three real fleetpulse nodes and one single-node fleetpulse on the same
data. The export through any node has exactly the single node's lines; the live stream opened
on any node delivers the events of every partition; /metrics on any node has every node's
samples, each with its node label. An owner stopped with SIGSTOP makes each of them say so
(the export's X-Fleetpulse-Partial header and last line, a `partial` SSE event, the
fleetpulse_cluster_gather_partial gauge) naming its partitions, within a bounded time.
"""

from __future__ import annotations

import http.client
import json
import signal
import time

import pytest

from fleetpulse_cluster_harness import (FleetpulseNode, cluster_beside_single, partition_of,
                                        wait_all_owned, wait_points_applied)
from sse_client import SseClient

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms
DEVICES = [f"s-dev-{i:02d}" for i in range(24)]
EXPORT = "/api/v1/export?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
# Long enough that the stopped owner keeps its leases while every read below notices it.
LEASE_TTL = "10s"


class Node(FleetpulseNode):
    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        cmd[cmd.index("--lease-ttl") + 1] = LEASE_TTL
        return cmd


def readings() -> list[dict]:
    return [{"device_id": d, "metric": m, "value": float(i * 10 + k), "ts": T0 + 60_000 * k}
            for i, d in enumerate(DEVICES) for m in ("temp", "hum") for k in range(4)]


def start_spread(nodes: list[Node]) -> None:
    """start_cluster(), with the longer lease's time to spread."""
    for n in nodes:
        n.start()
    wait_all_owned(nodes, timeout=60, balanced=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with cluster_beside_single(tmp_path_factory.mktemp("fpstreams"), Node,
                               start_spread) as (nodes, single):
        body = {"readings": readings()}
        assert nodes[0].post("/api/v1/telemetry", body).status == 200
        assert single.post("/api/v1/telemetry", body).status == 200
        wait_points_applied(nodes[1], len(readings()))
        yield nodes, single


def get_raw(node, path: str, timeout: float = 30.0):
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {node.admin_key}"})
        r = conn.getresponse()
        return r.status, r.headers, r.read().decode()
    finally:
        conn.close()


def export_complete(node, path: str):
    """GET the export until it is not partial: a partition moving between owners, or an owner
    slower than the gather's 2.5 s to start (loaded CI, ASan), is reported, correctly."""
    deadline = time.monotonic() + 20
    while True:
        status, headers, body = get_raw(node, path)
        if headers.get("X-Fleetpulse-Partial") is None or time.monotonic() > deadline:
            assert headers.get("X-Fleetpulse-Partial") is None, dict(headers)
            return status, headers, body
        time.sleep(0.5)


def test_export_through_any_node_has_the_single_nodes_lines(cluster):
    nodes, single = cluster
    for fmt in ("ndjson", "csv"):
        status, headers, want = get_raw(single, f"{EXPORT}&format={fmt}")
        assert status == 200
        want_lines = want.splitlines()
        assert len(want_lines) == len(readings()) + (1 if fmt == "csv" else 0)
        for n in nodes:
            status, headers, got = export_complete(n, f"{EXPORT}&format={fmt}")
            assert status == 200, got
            lines = got.splitlines()
            if fmt == "csv":  # the header once, first
                assert lines[0] == want_lines[0] == "device_id,metric,ts,value"
                lines, ref = lines[1:], want_lines[1:]
            else:
                ref = want_lines
            # Grouped by owner rather than in the single node's device order; same lines.
            assert sorted(lines) == sorted(ref), (n.node_id, fmt)
    # A filter goes to every owner: one metric only.
    status, _, got = export_complete(nodes[2], f"{EXPORT}&metric=hum")
    assert status == 200
    assert sorted(got.splitlines()) == sorted(get_raw(single, f"{EXPORT}&metric=hum")[2].splitlines())
    # A bad parameter is the owners' 400, passed back.
    status, _, body = get_raw(nodes[1], f"{EXPORT}&format=xml")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_parameter", body


def samples(text: str, name: str) -> dict[str, float]:
    """{labels: value} of the samples of metric `name` in a text exposition."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key[len(name):]] = float(value)
    return out


def test_metrics_on_any_node_have_every_node_with_a_node_label(cluster):
    nodes, _ = cluster
    for n in nodes:
        deadline = time.monotonic() + 20
        while True:  # complete (a node slower than 2.5 s on a loaded machine is reported)
            status, _, text = get_raw(n, "/metrics")
            assert status == 200
            if "fleetpulse_cluster_gather_partial 0" in text or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        owned = samples(text, "fleetpulse_cluster_partitions_owned")
        assert set(owned) == {f'{{node="{x}"}}' for x in ("a", "b", "c")}, owned
        assert sum(owned.values()) == 8
        # Every sample carries a node label; each family's TYPE comes once.
        types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
        assert len(types) == len(set(types))
        sample_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert all('node="' in line for line in sample_lines
                   if not line.startswith("fleetpulse_cluster_gather_partial")), sample_lines[:5]
        assert samples(text, "fleetpulse_cluster_gather_partial") == {"": 0.0}
        # Each node's samples are there: a series of every node in the same family.
        stored = samples(text, "fleetpulse_points_stored")
        assert {k for k in stored if 'node="' in k} and len(stored) == 3, stored
        # Per node, with ?fp_local=1 (scraping each node): its own samples only.
        _, _, own = get_raw(n, "/metrics?fp_local=1")
        assert set(samples(own, "fleetpulse_cluster_partitions_owned")) == {
            f'{{node="{n.node_id}"}}'}


def test_live_stream_on_any_node_delivers_every_partitions_events(cluster):
    nodes, single = cluster
    ids = ",".join(DEVICES)
    owners = {p["owner"] for p in nodes[0].cluster()["partitions"]}
    assert len(owners) == 3  # the devices are spread over three owners
    for n in nodes:
        with SseClient(n.port, f"/api/v1/stream?device_id={ids}", key=n.admin_key) as sse:
            assert sse.status == 200
            first = sse.wait_for("partial", timeout=10)
            assert first == {"partial": False, "missing_partitions": []}, first
            ts = T0 + 3_600_000 + 1000 * nodes.index(n)
            batch = [{"device_id": d, "metric": "temp", "value": 1.5, "ts": ts} for d in DEVICES]
            # Written through another node: the events happen on the owners.
            writer = nodes[(nodes.index(n) + 1) % 3]
            assert writer.post("/api/v1/telemetry", {"readings": batch}).status == 200
            seen: set[str] = set()
            deadline = time.monotonic() + 15
            while seen != set(DEVICES) and time.monotonic() < deadline:
                data = sse.wait_for("telemetry", timeout=max(0.1, deadline - time.monotonic()))
                if data["value"] == 1.5:  # this batch's (the others' values are integers)
                    seen.add(data["device_id"])
            assert seen == set(DEVICES), sorted(set(DEVICES) - seen)
            assert single.post("/api/v1/telemetry", {"readings": batch}).status == 200
    # A bad parameter is refused as on one node.
    with SseClient(nodes[1].port, "/api/v1/stream?device_id=bad%20id", key=nodes[1].admin_key) as sse:
        assert sse.status == 400


def test_a_stopped_owner_makes_export_metrics_and_stream_partial(cluster):
    nodes, single = cluster
    a, c = nodes[0], nodes[2]
    owned_by_c = sorted(p["id"] for p in c.cluster()["partitions"] if p["owner"] == "c")
    assert owned_by_c
    sse = SseClient(a.port, f"/api/v1/stream?device_id={DEVICES[0]}", key=a.admin_key)
    assert sse.wait_for("partial", timeout=10)["partial"] is False
    c.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, headers, body = get_raw(a, EXPORT)
        took_export = time.monotonic() - started
        started = time.monotonic()
        m_status, _, metrics = get_raw(a, "/metrics")
        took_metrics = time.monotonic() - started
        event = sse.wait_for("partial", lambda d: d["partial"], timeout=10)
    finally:
        c.send_signal(signal.SIGCONT)
    # Bounded: each gives up on the stopped owner well before its leases could pass.
    assert took_export < 8 and took_metrics < 8, (took_export, took_metrics)
    assert status == 200
    assert headers.get("X-Fleetpulse-Partial") == "true"
    missing = [int(x) for x in headers["X-Fleetpulse-Missing-Partitions"].split(",")]
    assert missing == owned_by_c, (missing, owned_by_c)
    lines = body.splitlines()
    trailer = json.loads(lines[-1])
    assert trailer["partial"] is True and trailer["missing_partitions"] == owned_by_c, trailer
    # Every other partition's lines, exactly.
    _, _, want = get_raw(single, EXPORT)
    want_kept = [ln for ln in want.splitlines()
                 if partition_of(json.loads(ln)["device_id"]) not in owned_by_c]
    assert sorted(lines[:-1]) == sorted(want_kept)
    assert m_status == 200
    assert samples(metrics, "fleetpulse_cluster_gather_partial") == {"": 1.0}
    assert samples(metrics, "fleetpulse_cluster_gather_missing_node") == {'{node="c"}': 1.0}
    assert set(samples(metrics, "fleetpulse_cluster_partitions_owned")) == {
        '{node="a"}', '{node="b"}'}
    assert event["missing_partitions"] == owned_by_c, event
    # After SIGCONT the stream is complete again, and says so.
    again = sse.wait_for("partial", lambda d: not d["partial"], timeout=15)
    assert again == {"partial": False, "missing_partitions": []}
    sse.close()
