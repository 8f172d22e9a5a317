#!/usr/bin/env python3
"""Latency of the single-series day query, for fleetpulse builds side by side on the same data.

Data: DEVICES devices (default 2,000; bench/promql_bench.py's generator, `bench_temperature`
every 5 min for a day), loaded into each build (bench/promql_rss.py's start_loaded). Then
`query_range bench_temperature{device_id="dev-00042"}` over the day at 60 s step, 20 timed
requests after a warm-up, each on a new connection (as urllib does in promql_bench.py), plain
and with `Accept-Encoding: gzip`, the builds alternating, ROUNDS times: median and minimum.

Usage: bench/promql_single_series.py --bin NAME=PATH [--bin NAME=PATH ...] [--devices N]
       [--rounds N]. Temp dirs, free ports, 127.0.0.1 only; servers stopped by PID at the end.
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
from promql_bench import DAY_END_MS, generate, stop_all  # noqa: E402
from promql_rss import start_loaded  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH of a fleetpulse")
    ap.add_argument("--devices", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="promql-one-"))
    procs, servers = [], []
    try:
        data = list(generate(args.devices, 300))
        lines = [f"bench,device_id={d} temperature={v} {t}" for d, _, _, pts in data for t, v in pts]
        for spec in args.bin:
            name, path = spec.split("=", 1)
            p, port = start_loaded(name, path, root, data, lines)
            procs.append(p)
            servers.append((name, port))
        query = urllib.parse.urlencode([
            ("query", 'bench_temperature{device_id="dev-00042"}'),
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
