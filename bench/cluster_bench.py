#!/usr/bin/env python3
"""Single node vs a 3-node cluster (3 nats-servers, R3 streams) on loopback, in one run, with
the same load driver; then failover time measured --failovers times. Issue 12's benchmark;
figures in docs/benchmarks.md ("Cluster mode: single node vs 3 nodes").

Load: the peer benchmark's payload (10k trucks x 7 fields, 5,000 lines per request; build it
once with bench/run_peer_comparison.sh or ../shared/bench/run_peers.sh) sent by its `send`
binary (C++, --conns keep-alive connections) as line protocol to POST /write and, converted by
bench/make_json_payload.py, as JSON to POST /api/v1/telemetry. Each setup starts fresh. For
each: values/s and the p50/p99 of the write acknowledgement as `send` measures them, and the
CPU seconds of every server process (fleetpulse, and for the cluster the nats-servers too)
from before the first request until every value is applied (readable: gathered
/api/v1/stats points_stored), per million values, total and per node.

Failover: kill -9 of the node owning the most partitions, then the time until a reading of a
device in every one of its partitions answers through another node (reads answering again);
then the node is restarted and the spread awaited before the next round.

  FLEETPULSE_BIN=build/release/src/app/fleetpulse python3 bench/cluster_bench.py \
      [--batches 30] [--conns 4] [--failovers 10] [--payload /tmp/peerbench] [--only-failover]
(Point FLEETPULSE_BIN at a copy of the binary if you build meanwhile: nodes are restarted.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from fleetpulse_cluster_harness import (FleetpulseNode, partition_of,  # noqa: E402
                                        wait_all_owned)
from fleetpulse_harness import FleetpulseServer  # noqa: E402
from nats_cluster_harness import NatsCluster  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
VALUES_PER_LINE = 7
WARMUP = 2  # batches: 2 x 5,000 lines name all 10,000 trucks


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def send(sender: str, url: str, files: Path, batches: int, conns: int, json_body: bool) -> dict:
    cmd = [sender, "--url", url, "--dir", str(files), "--conns", str(conns), "--limit",
           str(batches), "--fields", str(VALUES_PER_LINE), "--json"]
    if json_body:
        cmd += ["--content-type", "application/json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    out = run.stdout
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"send failed:\n{out}\n{run.stderr[-3000:]}"
    result = json.loads(lines[0][7:])
    if result["http_errors"]:  # refused (503 + Retry-After: the disk is behind), not stored
        print(f"# {result['http_errors']} requests refused: {run.stderr[-500:]}", flush=True)
    return result


def wait_points(node, want: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = node.get("/api/v1/stats")
        if r.status == 200 and not r.body.get("partial") and r.body["points_stored"] >= want:
            return time.monotonic(), r.body["points_stored"]
        time.sleep(0.2)
    raise AssertionError(f"not all {want} points applied within {timeout}s: {r}")


def measure(name: str, servers: list[tuple[str, int]], target, url: str, files: Path,
            args, json_body: bool) -> dict:
    # Warm-up, not measured: the first WARMUP batches name every device (registration).
    warm = send(args.sender, url, files / "warm", WARMUP, args.conns, json_body)
    stored = wait_points(target, warm["values"])[1]
    c0 = {label: cpu_s(pid) for label, pid in servers}
    t0 = time.monotonic()
    r = send(args.sender, url, files / "run", args.batches, args.conns, json_body)
    values = r["values"]
    t_applied = wait_points(target, stored + values)[0]
    c1 = {label: cpu_s(pid) for label, pid in servers}
    cpu = {label: c1[label] - c0[label] for label in c0}
    total = sum(cpu.values())
    out = {"setup": name, "format": "json" if json_body else "lp", "values": values,
           "refused_requests": r["http_errors"],
           "values_per_s": round(r["values"] / r["seconds"]),
           "applied_after_s": round(t_applied - t0, 2),
           "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
           "cpu_s_per_1m_values": round(total / (values / 1e6), 3),
           "cpu_s_by_process": {k: round(v, 2) for k, v in cpu.items()}}
    print(json.dumps(out), flush=True)
    return out


def cluster_run(work: Path, args, json_body: bool, files: Path, failovers: int) -> list[dict]:
    results = []
    with NatsCluster() as nats:
        nodes = [FleetpulseNode(n, nats.urls, work / ("json" if json_body else "lp"))
                 for n in ("a", "b", "c")]
        try:
            for n in nodes:
                n.start()
            wait_all_owned(nodes, timeout=60, balanced=True)
            servers = [(f"fleetpulse-{n.node_id}", n.proc.pid) for n in nodes]
            servers += [(f"nats-{i}", pid) for i, pid in enumerate(nats.pids)]
            path = "/api/v1/telemetry" if json_body else "/write"
            results.append(measure("cluster-3", servers, nodes[1],
                                   f"http://127.0.0.1:{nodes[0].port}{path}", files, args,
                                   json_body))
            if failovers:
                results.append(failover(nodes, failovers))
        finally:
            for n in nodes:
                n.kill()
    return results


def failover(nodes: list[FleetpulseNode], rounds: int) -> dict:
    devices = [f"truck_{i}" for i in range(100)]  # every partition has some
    wait_all_owned(nodes, timeout=90, balanced=True)
    body = {"readings": [{"device_id": d, "metric": "probe", "value": 1.0,
                          "ts": 1_767_225_600_000} for d in devices]}
    assert nodes[0].post("/api/v1/telemetry", body).status == 200
    times = []
    for _ in range(rounds):
        owners = wait_all_owned(nodes, timeout=90, balanced=True)
        counts = {n.node_id: list(owners.values()).count(n.node_id) for n in nodes}
        victim = next(n for n in nodes if n.node_id == max(counts, key=counts.get))
        reader = next(n for n in nodes if n is not victim)
        probes = {}
        for d in devices:
            p = partition_of(d)
            if owners[p] == victim.node_id and p not in probes:
                probes[p] = d
        victim.kill()
        t0 = time.monotonic()
        pending = set(probes.values())
        while pending and time.monotonic() - t0 < 120:
            for d in sorted(pending):
                try:
                    if reader.get(f"/api/v1/devices/{d}/latest").status == 200:
                        pending.discard(d)
                except OSError:
                    pass
            time.sleep(0.05)
        took = time.monotonic() - t0
        assert not pending, f"reads of {pending} not answering after {took:.0f}s"
        times.append(took)
        print(json.dumps({"failover_s": round(took, 2), "victim": victim.node_id,
                          "partitions": sorted(probes)}), flush=True)
        victim.start()
    out = {"setup": "failover", "rounds": rounds, "min_s": round(min(times), 2),
           "median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
           "all_s": [round(t, 2) for t in times]}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--failovers", type=int, default=10)
    ap.add_argument("--payload", default=os.environ.get("PEERBENCH_ROOT", "/tmp/peerbench"))
    ap.add_argument("--only-failover", action="store_true", help="skip the ingest comparison")
    args = ap.parse_args()
    if args.only_failover:
        with tempfile.TemporaryDirectory(prefix="fpclusterbench") as tmp, NatsCluster() as nats:
            nodes = [FleetpulseNode(n, nats.urls, Path(tmp)) for n in ("a", "b", "c")]
            try:
                for n in nodes:
                    n.start()
                print("SUMMARY " + json.dumps([failover(nodes, args.failovers)]))
            finally:
                for n in nodes:
                    n.kill()
        return
    root = Path(args.payload)
    args.sender = str(root / "build" / "send")
    lp = next(root.glob("payload/*-b5000-*/lp"))  # 5,000 lines per request
    js = lp.parent / "json"
    sys.path.insert(0, str(ROOT / "bench"))
    from make_json_payload import convert  # noqa: E402 - the first --batches files only
    js.mkdir(exist_ok=True)
    for f in sorted(lp.glob("*.lp"))[:WARMUP + args.batches]:
        if not (js / f.name).exists():
            convert(str(f), str(js / f.name))
    results = []
    with tempfile.TemporaryDirectory(prefix="fpclusterbench") as tmp:
        work = Path(tmp)
        sets = []
        for src in (lp, js):  # warm/ and run/: links to the warm-up and the measured batches
            out = work / f"files-{src.name}"
            files = sorted(src.glob("*.lp"))[:WARMUP + args.batches]
            for sub, part in (("warm", files[:WARMUP]), ("run", files[WARMUP:])):
                (out / sub).mkdir(parents=True)
                for f in part:
                    (out / sub / f.name).symlink_to(f)
            sets.append(out)
        for json_body, files in ((False, sets[0]), (True, sets[1])):
            fmt = "json" if json_body else "lp"
            single = FleetpulseServer(work / f"single-{fmt}", work / f"single-{fmt}.log")
            (work / f"single-{fmt}").mkdir()
            single.start()
            try:
                path = "/api/v1/telemetry" if json_body else "/write"
                results.append(measure("single", [("fleetpulse", single.proc.pid)], single,
                                       f"http://127.0.0.1:{single.port}{path}", files, args,
                                       json_body))
            finally:
                single.kill()
            results += cluster_run(work, args, json_body, files,
                                   args.failovers if json_body else 0)
    print("SUMMARY " + json.dumps(results))


if __name__ == "__main__":
    main()
