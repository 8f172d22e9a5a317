#!/usr/bin/env python3
"""Peak RSS of one PromQL range query, for two fleetpulse builds side by side on the same data.

Data: DEVICES devices (default 1,000) reporting `bench_temperature` every 5 minutes for one day
(bench/promql_bench.py's generator), loaded by line protocol into each build. Then for each
build, the query `bench_temperature` over the whole day at 60 s step (DEVICES series x 1,441
points, ~40 MB of JSON for 1,000 series) is asked ROUNDS times, plain and with
`Accept-Encoding: gzip`; before each query the server's peak RSS is reset
(`echo 5 > /proc/PID/clear_refs`), after it VmHWM is read: the query's peak RSS, next to the
RSS the server had before it (VmRSS).

Usage: bench/promql_rss.py --bin NAME=PATH [--bin NAME=PATH ...] [--devices N] [--rounds N]
Temp dirs, free ports, 127.0.0.1 only; servers are stopped by PID at the end. Linux only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from promql_bench import (DAY_END_MS, free_port, generate, post, stop_all,  # noqa: E402
                          wait_ready)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def query_peak(pid: int, port: int, gzip_ok: bool) -> tuple[int, int, int, float]:
    """(VmRSS before, VmHWM after, answer bytes, seconds) of one query_range."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = status_kib(pid, "VmRSS")
    params = urllib.parse.urlencode([("query", "bench_temperature"),
                                     ("start", str((DAY_END_MS - 86_400_000) / 1000)),
                                     ("end", str(DAY_END_MS / 1000)), ("step", "60")])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    conn.request("GET", "/prometheus/api/v1/query_range?" + params,
                 headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    r = conn.getresponse()
    body = r.read()
    dt = time.perf_counter() - t0
    conn.close()
    assert r.status == 200, body[:300]
    return before, status_kib(pid, "VmHWM"), len(body), dt


def start_loaded(name: str, path: str, root: Path, data: list, lines: list[str],
                 extra_args: tuple[str, ...] = ()):
    """Starts the fleetpulse at `path` on a free port with data dir root/name (and
    `extra_args`), registers the devices of `data` and writes `lines`; returns (process, port)."""
    port = free_port()
    p = subprocess.Popen([path, "serve", "--data-dir", str(root / name), "--http",
                          f"127.0.0.1:{port}", "--mqtt", "off", "--log-level", "warn",
                          "--fsync", "none", *extra_args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/ready", p, name)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for dev, typ, loc, _ in data:
        body = json.dumps({"device_id": dev, "type": typ, "location": loc}).encode()
        assert post(conn, "/api/v1/devices", body, "application/json") == 201
    for i in range(0, len(lines), 50_000):
        assert post(conn, "/api/v1/write?precision=ms", "\n".join(lines[i:i + 50_000]).encode(),
                    "text/plain") in (200, 204)
    return p, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH of a fleetpulse")
    ap.add_argument("--devices", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="promql-rss-"))
    procs = []
    try:
        data = list(generate(args.devices, 300))
        lines = [f"bench,device_id={dev} temperature={v} {t}" for dev, _, _, pts in data for t, v in pts]
        servers = []
        for spec in args.bin:
            name, path = spec.split("=", 1)
            p, port = start_loaded(name, path, root, data, lines)
            procs.append(p)
            servers.append((name, p.pid, port))
        print(f"{args.devices} series, {len(lines)} points; query_range bench_temperature, "
              "1 day at 60 s step")
        print("| build | round | encoding | RSS before | peak RSS during the query | "
              "peak - before | answer bytes | time |")
        print("|---|---|---|---|---|---|---|---|")
        for rnd in range(args.rounds):
            for gzip_ok in (False, True):
                for name, pid, port in servers:  # the builds alternate within a round
                    before, peak, size, dt = query_peak(pid, port, gzip_ok)
                    print(f"| {name} | {rnd + 1} | {'gzip' if gzip_ok else 'plain'} | "
                          f"{before / 1024:.1f} MiB | {peak / 1024:.1f} MiB | "
                          f"{(peak - before) / 1024:.1f} MiB | {size:,} | {dt * 1000:.0f} ms |",
                          flush=True)
    finally:
        stop_all(procs)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
