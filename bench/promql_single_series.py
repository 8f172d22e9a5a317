#!/usr/bin/env python3
"""Latency of the single-series day query, for fleetpulse builds side by side on the same data.

Data: DEVICES devices (default 2,000; bench/promql_bench.py's generator, `bench_temperature`
every 5 min for a day), loaded into each build (bench/promql_rss.py's start_loaded). Then
`query_range bench_temperature{device_id="dev-00042"}` over the day at 60 s step, 20 timed
requests after a warm-up, each on a new connection (as urllib does in promql_bench.py), plain
and with `Accept-Encoding: gzip`, the builds alternating, ROUNDS times: median and minimum.

--dense adds bench/promql_bench.py's 1 s series (`bench_dense_temperature`, and the integer
`bench_dense_messages` at the same times); --query Q asks Q instead of the single series
(e.g. `max_over_time(bench_dense_temperature[1h])`); --head keeps the day in the head
(`--seal-after 1000d`: not sealed nor compacted while the rounds run).

Usage: bench/promql_single_series.py --bin NAME=PATH [--bin NAME=PATH ...] [--devices N]
       [--rounds N] [--dense] [--query Q] [--head]. Temp dirs, free ports, 127.0.0.1 only;
       servers stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from promql_bench import DAY_END_MS, dense_points, generate, stop_all  # noqa: E402
from promql_rss import start_loaded  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH of a fleetpulse")
    ap.add_argument("--devices", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dense", action="store_true", help="add the 1 s series")
    ap.add_argument("--query", default='bench_temperature{device_id="dev-00042"}')
    ap.add_argument("--head", action="store_true", help="keep the day in the head")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="promql-one-"))
    procs, servers = [], []
    try:
        data = list(generate(args.devices, 300))
        lines = [f"bench,device_id={d} temperature={v} {t}" for d, _, _, pts in data for t, v in pts]
        if args.dense:
            lines += [f"bench,device_id=dense-0 dense_temperature={v},dense_messages={i * 7919 % 97} "
                      f"{t}" for i, (t, v) in enumerate(dense_points(1))]
        for spec in args.bin:
            name, path = spec.split("=", 1)
            p, port = start_loaded(name, path, root, data, lines,
                                   ("--seal-after", "1000d") if args.head else ())
            procs.append(p)
            servers.append((name, port))
        query = urllib.parse.urlencode([
            ("query", args.query),
            ("start", str((DAY_END_MS - 86_400_000) / 1000)), ("end", str(DAY_END_MS / 1000)),
            ("step", "60")])
        for rnd in range(args.rounds):
            for gzip_ok in (False, True):
                for name, port in servers:
                    times = []
                    for _ in range(21):
                        t0 = time.perf_counter()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        conn.request("GET", "/prometheus/api/v1/query_range?" + query,
                                     headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
                        r = conn.getresponse()
                        r.read()
                        conn.close()
                        assert r.status == 200
                        times.append(time.perf_counter() - t0)
                    print(f"round {rnd + 1} {name} {'gzip' if gzip_ok else 'plain'}: median "
                          f"{statistics.median(times[1:]) * 1000:.2f} ms, min "
                          f"{min(times[1:]) * 1000:.2f} ms", flush=True)
    finally:
        stop_all(procs)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
