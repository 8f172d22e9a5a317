#!/usr/bin/env python3
"""PromQL query latency, fleetpulse beside Prometheus 2.42 and VictoriaMetrics, same data, one run.

Data: DEVICES devices (default 10,000; type = one of 5, location = one of 10 sites, so a site
holds DEVICES/10 devices) reporting `bench_temperature` every INTERVAL seconds (default 300)
for one day. Loaded into fleetpulse by line protocol (devices registered first with type and
location), into Prometheus as TSDB blocks made by `promtool tsdb create-blocks-from openmetrics`,
into VictoriaMetrics by /api/v1/import/prometheus. Then each query_range over the whole day at
60 s step is run once to warm up and RUNS times (default 5) timed, at least 21 times when the
warm-up took under 50 ms; the table shows the median (and the minimum) wall time of the HTTP
request, each on a new connection (server time + JSON transfer on loopback). --queries N keeps
the first N rows only (1: the single series).

With --seal, fleetpulse seals what it loaded into blocks (POST /api/v1/admin/flush) and the
run waits for the day's compaction, which builds the 1-minute and 1-hour rollups, so queries
read blocks and rollups as they do for any day older than --seal-after (default 1 h).
--dense-interval S (default 1) adds one series `bench_dense_temperature` at one point every S
seconds: dense enough to get 1-minute rollups, which an instant selector at a 60 s step reads
instead of all its points (src/promql/telemetry_source.h, read_points_for_steps), and
`max_over_time(...[1h])` of which reads 60 minute buckets per window instead of 3,600 points
(read_runs), and beside it `bench_dense_messages`, integer counts at the same times, whose
`sum_over_time(...[1h])` reads the buckets too (integers: every partial sum exact).

--rounds N prints the table N times over the same loaded data (the machine is shared: one
table is one sample); --gzip follows each table with the same queries asking for gzip
(`Accept-Encoding: gzip`, as Grafana's data source does; all three servers then compress).

Usage: bench/promql_bench.py [--devices N] [--interval S] [--runs N] [--seal]
       [--dense-interval S] [--rounds N] [--gzip] [--queries N] [--rows I,J,...]
       (FLEETPULSE_BIN, default build/release/src/app/fleetpulse). Temp dirs, free ports, all on
       127.0.0.1; servers are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

DAY_END_MS = 1_764_460_800_000  # 2025-11-30T00:00:00Z
TYPES = ["sensor", "gateway", "tracker", "camera", "meter"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, what: str, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} not ready")


def generate(devices: int, interval_s: int):
    rng = random.Random(7)
    start = DAY_END_MS - 86_400_000
    for d in range(devices):
        dev = f"dev-{d:05d}"
        t = start + rng.randrange(0, interval_s * 1000)
        v = rng.uniform(10, 30)
        pts = []
        while t <= DAY_END_MS:
            pts.append((t, round(v, 3)))
            v += rng.uniform(-0.5, 0.5)
            t += interval_s * 1000
        yield dev, TYPES[d % 5], f"site-{d % 10:02d}", pts


def dense_points(interval_s: int):
    rng = random.Random(11)
    t, v, pts = DAY_END_MS - 86_400_000 + 17, 20.0, []
    while t <= DAY_END_MS:
        pts.append((t, round(v, 3)))
        v += rng.uniform(-0.5, 0.5)
        t += interval_s * 1000
    return pts


def metric_value(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def post(conn: http.client.HTTPConnection, path: str, body: bytes, ctype: str) -> int:
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    r.read()
    return r.status


# A query whose warm-up took less than this is asked at least FAST_RUNS times: a median of 3
# millisecond answers on a loaded machine is one scheduling hiccup away from 10x (session 8's
# single-series row: 8.7-9.9 ms in two tables, 0.5-2 ms when re-run with more samples).
FAST_QUERY_S = 0.05
FAST_RUNS = 21


def timed_query(base: str, query: str, runs: int, extra=(),
                gzip_ok=False) -> tuple[float, float, int]:
    """(median, minimum) wall time of `runs` query_range calls (FAST_RUNS at least when the
    warm-up took under FAST_QUERY_S), after one warm-up, each on a new connection, until the
    last byte of the answer is read; with gzip_ok the request asks for gzip (as Grafana does)
    and the answer is inflated after the clock stops. Also the number of series."""
    params = urllib.parse.urlencode([("query", query), ("start", str((DAY_END_MS - 86_400_000) / 1000)),
                                     ("end", str(DAY_END_MS / 1000)), ("step", "60"), *extra])
    times, series = [], 0
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    i = 0
    while i <= runs:
        t0 = time.perf_counter()
        req = urllib.request.Request(base + "/api/v1/query_range?" + params, headers=headers)
        with urllib.request.urlopen(req, timeout=300) as r:
            body = r.read()
            zipped = r.headers.get("Content-Encoding") == "gzip"
        dt = time.perf_counter() - t0
        if gzip_ok:
            assert zipped, f"{base} did not gzip its answer"
            body = gzip.decompress(body)
        doc = json.loads(body)
        assert doc["status"] == "success", doc
        series = len(doc["data"]["result"])
        if i:
            times.append(dt)
        elif dt < FAST_QUERY_S:
            runs = max(runs, FAST_RUNS)
        i += 1
    return statistics.median(times), min(times), series


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--interval", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seal", action="store_true",
                    help="fleetpulse: seal into blocks and wait for the rollups before querying")
    ap.add_argument("--dense-interval", type=int, default=1,
                    help="interval (s) of the one dense series bench_dense_temperature (0: none)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="print the whole table this many times over the same loaded data")
    ap.add_argument("--gzip", action="store_true",
                    help="after each table, the same asking for gzip (Accept-Encoding: gzip, as Grafana does)")
    ap.add_argument("--queries", type=int, default=0,
                    help="only the first N rows of the table (1: the single series alone; 0: all)")
    ap.add_argument("--rows", default="",
                    help="only these rows, 1-based, e.g. 1,5,6 (the quick ones: no Prometheus "
                         "query of 10,000 series)")
    ap.add_argument("--perf", help="perf record fleetpulse while its queries run (perf.data path)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="promql-bench-"))
    procs = []
    try:
        data = list(generate(args.devices, args.interval))
        dense = dense_points(args.dense_interval) if args.dense_interval > 0 else []
        # Integer counts at the same times (bench_dense_messages): sum_over_time of them can be
        # read from rollups (every partial sum exact), of the temperatures it cannot.
        counts = [(t, (i * 7919) % 97) for i, (t, _) in enumerate(dense)]
        npoints = sum(len(p) for *_, p in data) + len(dense) + len(counts)
        print(f"data: {args.devices} series, {npoints} points, one day", flush=True)

        # fleetpulse
        fp_bin = os.environ.get("FLEETPULSE_BIN", str(Path(__file__).resolve().parent.parent /
                                                      "build/release/src/app/fleetpulse"))
        fp_port = free_port()
        p = subprocess.Popen([fp_bin, "serve", "--data-dir", str(root / "fp"), "--http",
                              f"127.0.0.1:{fp_port}", "--mqtt", "off", "--log-level", "warn",
                              "--fsync", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_ready(f"http://127.0.0.1:{fp_port}/ready", p, "fleetpulse")
        t0 = time.time()

        def register(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", fp_port, timeout=60)
            for dev, typ, loc, _ in chunk:
                body = json.dumps({"device_id": dev, "type": typ, "location": loc}).encode()
                assert post(conn, "/api/v1/devices", body, "application/json") == 201
        threads = [threading.Thread(target=register, args=(data[i::8],)) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        conn = http.client.HTTPConnection("127.0.0.1", fp_port, timeout=300)
        lines = [f"bench,device_id={dev} temperature={v} {t}" for dev, _, _, pts in data for t, v in pts]
        lines += [f"bench,device_id=dense-0 dense_temperature={v},dense_messages={c} {t}"
                  for (t, v), (_, c) in zip(dense, counts)]
        for i in range(0, len(lines), 50_000):
            assert post(conn, "/api/v1/write?precision=ms", "\n".join(lines[i:i + 50_000]).encode(),
                        "text/plain") in (200, 204)
        if args.seal:
            before = metric_value(fp_port, "fleetpulse_block_compactions_total")
            flushed = post(conn, "/api/v1/admin/flush", b"{}", "application/json")
            assert flushed == 200, flushed
            deadline = time.time() + 600
            while metric_value(fp_port, "fleetpulse_block_compactions_total") <= before:
                assert time.time() < deadline, "fleetpulse did not compact the day"
                time.sleep(0.5)
            print(f"fleetpulse sealed: {metric_value(fp_port, 'fleetpulse_blocks'):.0f} blocks",
                  flush=True)
        print(f"fleetpulse loaded in {time.time() - t0:.1f} s", flush=True)

        # Prometheus
        om = root / "data.om"
        with om.open("w") as f:
            f.write("# TYPE bench_temperature gauge\n")
            for dev, typ, loc, pts in data:
                lbl = f'{{device_id="{dev}",location="{loc}",type="{typ}"}}'
                for t, v in pts:
                    f.write(f"bench_temperature{lbl} {v} {t // 1000}.{t % 1000:03d}\n")
            if dense:
                f.write("# TYPE bench_dense_temperature gauge\n")
                for t, v in dense:
                    f.write(f'bench_dense_temperature{{device_id="dense-0"}} {v} '
                            f"{t // 1000}.{t % 1000:03d}\n")
                f.write("# TYPE bench_dense_messages gauge\n")
                for t, c in counts:
                    f.write(f'bench_dense_messages{{device_id="dense-0"}} {c} '
                            f"{t // 1000}.{t % 1000:03d}\n")
            f.write("# EOF\n")
        t0 = time.time()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(root / "prom")],
                       check=True, capture_output=True)
        (root / "prom.yml").write_text("scrape_configs: []\n")
        pr_port = free_port()
        p = subprocess.Popen(["prometheus", f"--config.file={root / 'prom.yml'}",
                              f"--storage.tsdb.path={root / 'prom'}", "--storage.tsdb.retention.time=100y",
                              f"--web.listen-address=127.0.0.1:{pr_port}", "--log.level=warn"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_ready(f"http://127.0.0.1:{pr_port}/-/ready", p, "prometheus")
        print(f"prometheus loaded in {time.time() - t0:.1f} s", flush=True)

        # VictoriaMetrics (when installed)
        vm_base = None
        vm_bin = shutil.which("victoria-metrics") or shutil.which("victoria-metrics-prod")
        if vm_bin:
            vm_port = free_port()
            p = subprocess.Popen([vm_bin, f"-storageDataPath={root / 'vm'}", f"-httpListenAddr=127.0.0.1:{vm_port}",
                                  "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=ERROR"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_ready(f"http://127.0.0.1:{vm_port}/health", p, "victoria-metrics")
            t0 = time.time()
            conn = http.client.HTTPConnection("127.0.0.1", vm_port, timeout=300)
            buf = []
            for dev, typ, loc, pts in data:
                lbl = f'{{device_id="{dev}",location="{loc}",type="{typ}"}}'
                buf += [f"bench_temperature{lbl} {v} {t}" for t, v in pts]
                if len(buf) > 50_000:
                    assert post(conn, "/api/v1/import/prometheus", "\n".join(buf).encode(), "text/plain") == 204
                    buf = []
            buf += [f'bench_dense_temperature{{device_id="dense-0"}} {v} {t}' for t, v in dense]
            buf += [f'bench_dense_messages{{device_id="dense-0"}} {c} {t}' for t, c in counts]
            if buf:
                assert post(conn, "/api/v1/import/prometheus", "\n".join(buf).encode(), "text/plain") == 204
            urllib.request.urlopen(f"http://127.0.0.1:{vm_port}/internal/force_flush").read()
            vm_base = f"http://127.0.0.1:{vm_port}"
            print(f"victoria-metrics loaded in {time.time() - t0:.1f} s", flush=True)

        queries = [
            ("1 series", 'bench_temperature{device_id="dev-00042"}'),
            (f"{args.devices // 10} series", 'bench_temperature{location="site-03"}'),
            (f"sum by (type) over {args.devices} devices", "sum by (type) (bench_temperature)"),
        ]
        if dense:
            queries.append((f"1 series at {args.dense_interval} s ({len(dense)} points)",
                            'bench_dense_temperature{device_id="dense-0"}'))
            # A window function over whole minutes: with --seal, fleetpulse reads it from the
            # 1-minute rollups (60 buckets a window instead of 3,600 points).
            queries.append((f"max_over_time over 1 h of the {args.dense_interval} s series",
                            'max_over_time(bench_dense_temperature{device_id="dense-0"}[1h])'))
            # sum_over_time of integer counts: from rollups once compacted (exact sums).
            queries.append((f"sum_over_time over 1 h of the {args.dense_interval} s counts",
                            'sum_over_time(bench_dense_messages{device_id="dense-0"}[1h])'))
        if args.queries > 0:
            queries = queries[:args.queries]
        if args.rows:
            queries = [queries[int(i) - 1] for i in args.rows.split(",")]
        targets = [("fleetpulse", f"http://127.0.0.1:{fp_port}/prometheus", ()),
                   ("Prometheus 2.42", f"http://127.0.0.1:{pr_port}", ())]
        if vm_base:
            targets.append(("VictoriaMetrics", vm_base, (("nocache", "1"),)))
        for rnd in range(args.rounds):
            for gzip_ok in (False, True) if args.gzip else (False,):
                print(f"\nround {rnd + 1}, load average {os.getloadavg()[0]:.1f}, "
                      f"{'Accept-Encoding: gzip' if gzip_ok else 'no gzip'}:")
                run_table(args, queries, targets, procs, gzip_ok)
    finally:
        stop_all(procs)
        shutil.rmtree(root, ignore_errors=True)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Terminates the servers this run started (by PID), killing those that do not exit."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def run_table(args, queries, targets, procs, gzip_ok):
    print("| query_range, 1 day at 60 s step | " + " | ".join(n for n, *_ in targets) + " |")
    print("|---|" + "---|" * len(targets))
    for name, q in queries:
        cells = []
        for target, base, extra in targets:
            perf = None
            if args.perf and target == "fleetpulse":
                perf = subprocess.Popen(["perf", "record", "-g", "-F", "999", "-o",
                                         f"{args.perf}.q{queries.index((name, q))}",
                                         "-p", str(procs[0].pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            med, low, n = timed_query(base, q, args.runs, extra, gzip_ok)
            if perf:
                perf.send_signal(2)
                perf.wait()
            cells.append(f"{med * 1000:.1f} ms (min {low * 1000:.1f}; {n} series)")
        print(f"| {name}: `{q}` | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
